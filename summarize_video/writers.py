"""Output formats: one small writer class per format, each with its file extension.

Files are written atomically: a temporary file in the same folder, then a rename, so a reader
never sees half a file and an interrupted run leaves the previous file (or none).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from .errors import ConfigError, OutputError
from .naming import output_stems, sanitize_stem
from .results import Result
from .timeline import format_timestamp

__all__ = ["WRITERS", "Writer", "atomic_write_text", "get_writer", "output_stems",
           "sanitize_stem", "write_outputs"]


class Writer:
    """Renders a result to text; ``write`` puts it at ``<stem>.<extension>``."""

    extension: ClassVar[str]

    def render(self, result: Result) -> str:
        raise NotImplementedError

    def write(self, result: Result, output_dir: Path, stem: str) -> Path:
        target = Path(output_dir) / f"{stem}.{self.extension}"
        atomic_write_text(target, self.render(result))
        return target


class JsonWriter(Writer):
    extension = "summary.json"

    def render(self, result: Result) -> str:
        return json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n"


class MarkdownWriter(Writer):
    extension = "summary.md"

    def render(self, result: Result) -> str:
        v = result.video
        name = Path(v.path).name
        lines = [f"# {name}", ""]
        facts = [f"duration {format_timestamp(v.duration_s)}" if v.duration_s is not None
                 else "duration unknown"]
        if v.has_video and v.width and v.height:
            facts.append(f"{v.width}x{v.height}")
        if v.fps:
            facts.append(f"{v.fps:.3g} fps")
        facts.append("audio" if v.has_audio else "no audio")
        if result.language:
            facts.append(f"language {result.language}")
        lines += [", ".join(facts), ""]
        lines += [f"> {note}" for note in result.notes]
        if result.notes:
            lines.append("")
        lines += ["## Summary", ""]
        if result.summary is not None:
            lines.append(result.summary.strip())
        else:
            lines.append("_No summary: the reasoning model was not called (--no-llm)._")
        if result.chapters:
            lines += ["", "## Chapters", ""]
            lines += [f"- **{format_timestamp(c.start)}** {c.title}" for c in result.chapters]
        if result.key_moments:
            lines += ["", "## Key moments", ""]
            lines += [f"- **{format_timestamp(m.t)}** {m.text}" for m in result.key_moments]
        if result.topics:
            lines += ["", f"**Topics:** {', '.join(result.topics)}"]
        lines += ["", "## Captions", ""]
        lines += [f"- **{format_timestamp(c.t)}** {c.text}" for c in result.captions] or ["_none_"]
        lines += ["", "## Transcript", ""]
        lines += [
            f"- **{format_timestamp(s.start)}–{format_timestamp(s.end)}** {s.text}"
            for s in result.transcript
        ] or ["_none_"]
        s = result.settings
        lines += [
            "",
            "---",
            f"Captions: {s.get('caption_model')} every {s.get('interval_s')} s · "
            f"transcript: {s.get('whisper_model')} · summary: {s.get('llm_model') or 'none'} · "
            f"{result.usage.prompt_tokens} tokens in, {result.usage.completion_tokens} out",
            "",
        ]
        return "\n".join(lines)


WRITERS: dict[str, type[Writer]] = {"md": MarkdownWriter, "json": JsonWriter}


def get_writer(fmt: str) -> Writer:
    try:
        return WRITERS[fmt]()
    except KeyError:
        raise ConfigError(f"unknown output format {fmt!r}",
                          hint=f"use one of {', '.join(WRITERS)}") from None


def write_outputs(result: Result, output_dir: Path | str, formats: Sequence[str],
                  stem: str | None = None) -> list[Path]:
    """Write every format for one result; returns the paths written.

    ``stem`` (default: the input's file stem) is sanitised, so names stay inside
    ``output_dir``; in a batch, ``output_stems`` gives every input a distinct one.
    """
    out = Path(output_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {out}: {exc.strerror or exc}",
                          path=result.video.path, hint="choose another --output-dir") from exc
    name = sanitize_stem(stem or Path(result.video.path).stem)
    return [get_writer(fmt).write(result, out, name) for fmt in formats]


def atomic_write_text(target: Path, text: str) -> None:
    """Write to a temporary file beside ``target``, fsync, then rename over it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}",
                          hint="check the output folder is writable and has space") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
