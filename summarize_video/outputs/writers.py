"""Output formats: one small writer class per format, each with its file extension.

``NAME.summary.md``, ``.summary.json``, ``.summary.txt`` (summary, chapters, key moments),
``.captions.srt`` and ``.captions.vtt`` (the visual captions as timed cues),
``.chapters.txt`` (YouTube chapter lines) and ``.summary.html`` (a self-contained report).
NAME is a safe stem (see ``naming``).

Files are written atomically: a temporary file in the same folder, then a rename, so a reader
never sees half a file and an interrupted run leaves the previous file (or none).
"""

from __future__ import annotations

import glob
import json
import math
import os
import stat
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from ..errors import ConfigError, OutputError
from ..pipeline.results import Result
from ..timeline import format_timestamp
from .html_report import render_html
from .markdown_safe import safe_inline, safe_markdown
from .naming import output_stems, sanitize_stem
from .subtitles import Cue, caption_cues, render_srt, render_vtt, render_youtube_chapters

# A temporary output file this old belongs to a writer that was killed (kill -9, power loss).
STALE_TMP_S = 60.0

__all__ = ["WRITERS", "Writer", "atomic_write_text", "get_writer", "output_stems",
           "result_json", "sanitize_stem", "write_outputs"]


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
        return result_json(result, indent=2) + "\n"


def result_json(result: Result, indent: int | None = None) -> str:
    """The result as strict JSON (one line without ``indent``): a number that is not finite
    (a header's nan frame rate) is written as null, never as the NaN or Infinity that JSON
    parsers reject."""
    return json.dumps(_finite(result.to_dict()), ensure_ascii=False, indent=indent,
                      allow_nan=False)


def _finite(value: object) -> object:
    """``value`` with every nan or infinite float, however deep, replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


class MarkdownWriter(Writer):
    """Everything, for reading; model and file text made inert (see ``markdown_safe``)."""

    extension = "summary.md"

    def render(self, result: Result) -> str:
        md = safe_inline
        lines = [f"# {md(Path(result.video.path).name)}", "", md(_facts(result)), ""]
        lines += [f"> {md(note)}" for note in result.notes]
        if result.notes:
            lines.append("")
        lines += ["## Summary", ""]
        if result.summary is not None:
            lines.append(safe_markdown(result.summary.strip()))
        else:
            lines.append("_No summary: the reasoning model was not called (--no-llm)._")
        if result.chapters:
            lines += ["", "## Chapters", ""]
            lines += [f"- **{format_timestamp(c.start)}** {md(c.title)}" for c in result.chapters]
        if result.key_moments:
            lines += ["", "## Key moments", ""]
            lines += [f"- **{format_timestamp(m.t)}** {md(m.text)}" for m in result.key_moments]
        if result.topics:
            lines += ["", f"**Topics:** {md(', '.join(result.topics))}"]
        lines += ["", "## Captions", ""]
        lines += [f"- **{format_timestamp(c.t)}** {md(c.text)}" for c in result.captions] \
            or ["_none_"]
        lines += ["", "## Transcript", ""]
        lines += [
            f"- **{format_timestamp(s.start)}–{format_timestamp(s.end)}** {md(s.text)}"
            for s in result.transcript
        ] or ["_none_"]
        s = result.settings
        lines += [
            "",
            "---",
            md(f"Captions: {s.get('caption_model')} every {s.get('interval_s')} s · "
               f"transcript: {s.get('whisper_model')} · summary: {s.get('llm_model') or 'none'} · "
               f"{result.usage.prompt_tokens} tokens in, {result.usage.completion_tokens} out"),
            "",
        ]
        return "\n".join(lines)


class TextWriter(Writer):
    """Plain text: the summary, chapters, key moments and topics."""

    extension = "summary.txt"

    def render(self, result: Result) -> str:
        lines = [Path(result.video.path).name, _facts(result), ""]
        lines += [*result.notes, ""] if result.notes else []
        lines += ["Summary", "", result.summary.strip() if result.summary is not None
                  else "No summary: the reasoning model was not called."]
        if result.chapters:
            lines += ["", "Chapters", ""]
            lines += [f"{format_timestamp(c.start)} {_one_line(c.title)}"
                      for c in result.chapters]
        if result.key_moments:
            lines += ["", "Key moments", ""]
            lines += [f"{format_timestamp(m.t)} {_one_line(m.text)}" for m in result.key_moments]
        if result.topics:
            lines += ["", f"Topics: {', '.join(_one_line(t) for t in result.topics)}"]
        return "\n".join(lines) + "\n"


class _CaptionCues(Writer):
    def cues(self, result: Result) -> list[Cue]:
        interval = result.settings.get("interval_s") or 5.0
        return caption_cues(result.captions, float(interval), result.video.duration_s)


class SrtWriter(_CaptionCues):
    """The visual captions as SubRip cues (an audio-description track)."""

    extension = "captions.srt"

    def render(self, result: Result) -> str:
        return render_srt(self.cues(result))


class VttWriter(_CaptionCues):
    """The visual captions as WebVTT cues (an audio-description track)."""

    extension = "captions.vtt"

    def render(self, result: Result) -> str:
        return render_vtt(self.cues(result))


class ChaptersWriter(Writer):
    """``0:00 Title`` lines to paste into a YouTube description (see ``subtitles``)."""

    extension = "chapters.txt"

    def render(self, result: Result) -> str:
        return render_youtube_chapters(result.chapters, result.video.duration_s)


class HtmlWriter(Writer):
    """One self-contained HTML report (see ``html_report``)."""

    extension = "summary.html"

    def render(self, result: Result) -> str:
        return render_html(result)

    def write(self, result: Result, output_dir: Path, stem: str) -> Path:
        # Written into a folder, the report links its stamps to the source relative to it.
        target = Path(output_dir) / f"{stem}.{self.extension}"
        atomic_write_text(target, render_html(result, report_dir=Path(output_dir)))
        return target


WRITERS: dict[str, type[Writer]] = {
    "md": MarkdownWriter, "json": JsonWriter, "txt": TextWriter, "srt": SrtWriter,
    "vtt": VttWriter, "chapters": ChaptersWriter, "html": HtmlWriter,
}


def _facts(result: Result) -> str:
    return ", ".join(result.facts())


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


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


def check_output_dir(output_dir: Path | str) -> Path:
    """Create ``output_dir`` and prove a file can be made in it, before any work is done:
    a read-only or missing folder is a usage error (exit 2), not minutes lost."""
    out = Path(output_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".summarize-video-", suffix=".tmp", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"output folder {out} is not writable: {exc.strerror or exc}",
                          stage="write", hint="choose another --output-dir") from None
    return out


def atomic_write_text(target: Path, text: str) -> None:
    """Write to a temporary file beside ``target``, fsync, then rename over it. Temporaries
    of ``target`` left by a killed writer (older than ``STALE_TMP_S``) are removed. The file
    gets the usual permissions: an existing ``target``'s own, else ``0666`` less the umask
    (``mkstemp`` alone would leave ``0600``)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, _file_mode(target))
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        _sweep_stale(target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}",
                          hint="check the output folder is writable and has space") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _file_mode(target: Path) -> int:
    """``target``'s permission bits when it exists, else those a new file gets (0666 & ~umask)."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore at once
    os.umask(mask)
    return mask


def _sweep_stale(target: Path) -> None:
    now = time.time()
    for stale in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        try:
            if now - stale.stat().st_mtime > STALE_TMP_S:
                stale.unlink()
        except OSError:
            pass  # gone already, or not ours to remove
