"""Prompt files: shipped in the package (``summarize_video.prompts``), overridable per file.

Templates use ``$name`` placeholders and are filled strictly: a placeholder without a value is
an error, never an empty string sent to a model.
"""

from __future__ import annotations

import hashlib
import string
from importlib import resources
from pathlib import Path

from .errors import PromptError

PACKAGE = "summarize_video.prompts"

SYSTEM = "system.md"
SUMMARY = "summary.md"
CAPTION = "caption.txt"
# Caption prompt for a frame with speech nearby; one variable, $speech.
CAPTION_CONTEXT = "caption_context.txt"
# Appended to the system prompt when the timeline has "read" lines (text read on screen).
SCREEN = "screen.md"


def load_prompt(name: str, prompts_dir: Path | str | None = None) -> str:
    """The text of prompt ``name``: from ``prompts_dir`` when it has the file, else shipped."""
    if prompts_dir is not None:
        folder = Path(prompts_dir)
        if not folder.is_dir():
            raise PromptError(f"prompts folder not found: {folder}",
                              hint="pass an existing folder to --prompts-dir")
        own = folder / name
        if own.is_file():
            try:
                return own.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise PromptError(f"cannot read prompt {own}: {exc}") from exc
    try:
        return resources.files(PACKAGE).joinpath(name).read_text(encoding="utf-8")
    except (FileNotFoundError, OSError) as exc:
        raise PromptError(f"no prompt named {name!r}",
                          hint="check the file name in your prompts folder") from exc


def fill(template: str, variables: dict[str, object], *, name: str = "prompt") -> str:
    """Substitute ``$var`` placeholders; a missing variable or a stray ``$`` is an error."""
    tpl = string.Template(template)
    missing = [v for v in tpl.get_identifiers() if v not in variables]
    if missing:
        raise PromptError(f"{name}: no value for ${', $'.join(missing)}",
                          hint="use only the documented variables, or write $$ for a dollar sign")
    try:
        return tpl.substitute({k: str(v) for k, v in variables.items()})
    except ValueError as exc:
        raise PromptError(f"{name}: {exc}", hint="write $$ for a literal dollar sign") from exc


def render_prompt(name: str, variables: dict[str, object],
                  prompts_dir: Path | str | None = None) -> str:
    return fill(load_prompt(name, prompts_dir), variables, name=name)


def prompt_hash(name: str, prompts_dir: Path | str | None = None) -> str:
    """Short SHA-256 of a prompt's text, for provenance and cache keys."""
    return hashlib.sha256(load_prompt(name, prompts_dir).encode("utf-8")).hexdigest()[:16]
