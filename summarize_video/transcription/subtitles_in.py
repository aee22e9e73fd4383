"""Subtitles as the transcript: sidecar files found next to a video, their text decoded and
parsed, cues cleaned into ``Segment``s, and the rule that picks one track among several.

Sidecars are ``NAME.srt`` / ``NAME.vtt`` and ``NAME.LANG.srt`` / ``NAME.LANG.vtt`` (as yt-dlp
writes them). Text is read as UTF-8 (with or without a BOM), UTF-16 with a BOM, else cp1252;
a file over ``limits.MAX_SUBTITLE_BYTES`` is never read. Cues lose their markup (ASS override
blocks ``{\\...}``, ``\\N`` line breaks, HTML-ish tags), and empty cues and a cue repeating
the one before are dropped.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..limits import MAX_SUBTITLE_BYTES
from .base import Segment, Transcript

SIDECAR_EXTENSIONS = (".srt", ".vtt")
# A cue without an end lasts until the next one starts, and at most this long.
OPEN_CUE_S = 5.0
# "NAME.LANG.srt": a language tag of 2-3 letters, with optional subtags ("pt-BR", "zh-Hans").
_LANG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")
_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})(?:[,.](\d{1,3}))?"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}")
_ASS_BLOCK = re.compile(r"\{[^}]*\}")
_ASS_BREAK = re.compile(r"\\[Nnh]")
_TAG = re.compile(r"</?[A-Za-z][^<>]*>|<\d[\d:.]*>")
# ISO 639-2 (bibliographic and terminology) codes of common languages, to their 639-1 code.
_ISO3 = {
    "eng": "en", "fre": "fr", "fra": "fr", "ger": "de", "deu": "de", "spa": "es", "ita": "it",
    "por": "pt", "dut": "nl", "nld": "nl", "rus": "ru", "jpn": "ja", "chi": "zh", "zho": "zh",
    "kor": "ko", "ara": "ar", "hin": "hi", "pol": "pl", "swe": "sv", "nor": "no", "nob": "nb",
    "dan": "da", "fin": "fi", "tur": "tr", "gre": "el", "ell": "el", "heb": "he", "cze": "cs",
    "ces": "cs", "hun": "hu", "rum": "ro", "ron": "ro", "ukr": "uk", "vie": "vi", "tha": "th",
    "ind": "id", "may": "ms", "msa": "ms", "per": "fa", "fas": "fa", "cat": "ca", "bul": "bg",
    "hrv": "hr", "srp": "sr", "slo": "sk", "slk": "sk", "slv": "sl", "est": "et", "lav": "lv",
    "lit": "lt", "ice": "is", "isl": "is", "gle": "ga", "wel": "cy", "cym": "cy", "baq": "eu",
    "eus": "eu", "glg": "gl", "tam": "ta", "tel": "te", "ben": "bn", "urd": "ur", "fil": "tl",
    "tgl": "tl",
}


@dataclass(frozen=True)
class Sidecar:
    path: Path
    # The language of ``NAME.LANG.srt``, normalized; None for ``NAME.srt``.
    language: str | None


@dataclass(frozen=True)
class Parsed:
    segments: tuple[Segment, ...]
    # Cue blocks whose timing line could not be read (skipped).
    broken: int = 0


def normalize_language(tag: str | None) -> str | None:
    """A language tag as a short code: "eng" -> "en", "pt-BR" -> "pt"; None for none or
    "und"."""
    if not tag:
        return None
    primary = re.split(r"[-_]", tag.strip().lower(), maxsplit=1)[0]
    if primary in ("", "und", "zxx", "mul", "mis"):
        return None
    return _ISO3.get(primary, primary)


def find_sidecars(video: str | Path) -> list[Sidecar]:
    """Subtitle files next to ``video``, ``NAME.srt`` first, then ``NAME.LANG.*`` by name."""
    video = Path(video)
    stem, found = video.stem, []
    try:
        names = sorted(e.name for e in os.scandir(video.parent or Path("."))
                       if e.name.startswith(stem + ".") and e.is_file())
    except OSError:
        return []
    for name in names:
        base, ext = os.path.splitext(name)
        if ext.lower() not in SIDECAR_EXTENSIONS:
            continue
        middle = base[len(stem):]
        if middle == "":
            found.append(Sidecar(video.parent / name, None))
        elif _LANG.match(middle[1:]):
            found.append(Sidecar(video.parent / name, normalize_language(middle[1:])))
    return sorted(found, key=lambda s: s.language is not None)


def choose(tracks: Sequence[tuple[str | None, bool]], language: str | None) -> int | None:
    """The index of the track to use among ``(language, default)`` pairs in preference
    order: the first whose language matches ``language`` when one is given, else the first
    flagged default, else the first. None when there are none."""
    if not tracks:
        return None
    wanted = normalize_language(language)
    if wanted is not None:
        for i, (lang, _) in enumerate(tracks):
            if normalize_language(lang) == wanted:
                return i
    return next((i for i, (_, default) in enumerate(tracks) if default), 0)


def decode_text(data: bytes) -> str:
    """Subtitle bytes as text: a BOM's encoding, else UTF-16 when every other byte is NUL,
    else UTF-8, else cp1252 (never fails)."""
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"),
                       (b"\xfe\xff", "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom):].decode(codec, errors="replace")
    head = data[:4096]
    if head.count(b"\x00") > len(head) // 4:  # UTF-16 without a BOM: every other byte NUL
        odd = head[1::2].count(b"\x00") >= head[0::2].count(b"\x00")
        return data.decode("utf-16-le" if odd else "utf-16-be", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def read_sidecar(sidecar: Sidecar, max_bytes: int = MAX_SUBTITLE_BYTES) -> Parsed:
    """The cues of a sidecar file. Raises ``InputError`` when it cannot be read or is over
    ``max_bytes``."""
    path = sidecar.path
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > max_bytes:
                raise InputError(
                    f"the subtitle file is {size / 2**20:.0f} MiB, over the limit of "
                    f"{max_bytes / 2**20:.0f} MiB", path=str(path), stage="subtitles",
                    hint="a real subtitle file is far smaller: remove or rename it")
            data = f.read(max_bytes + 1)[:max_bytes]
    except OSError as exc:
        raise InputError(f"cannot read the subtitle file ({exc.strerror or exc})",
                         path=str(path), stage="subtitles",
                         hint="make it readable, or pass --transcript asr") from exc
    return parse_cues(decode_text(data))


def parse_cues(text: str) -> Parsed:
    """SubRip or WebVTT text as segments (blocks without a readable timing line skipped)."""
    raw: list[tuple[float, float | None, str]] = []
    broken = 0
    for block in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        lines = [ln for ln in block.split("\n") if ln.strip()]
        if not lines or lines[0].startswith(("WEBVTT", "NOTE", "STYLE", "REGION")):
            continue
        at = next((i for i, ln in enumerate(lines[:3]) if "-->" in ln), None)
        match = _TIMING.match(lines[at]) if at is not None else None
        if match is None:
            broken += 1
            continue
        start, end = _seconds(match.groups()[:4]), _seconds(match.groups()[4:])
        raw.append((start, end if end > start else None, "\n".join(lines[at + 1:])))
    return Parsed(segments(raw), broken)


def _seconds(parts: Sequence[str | None]) -> float:
    hours, minutes, seconds, fraction = parts
    frac = float(f"0.{fraction}") if fraction else 0.0
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + int(seconds or 0) + frac


def clean(text: str) -> str:
    """Cue text without markup: ASS override blocks and breaks, HTML-ish tags, entities."""
    text = _ASS_BREAK.sub(" ", _ASS_BLOCK.sub("", text))
    text = html.unescape(_TAG.sub("", text))
    return " ".join(text.split())


def segments(cues: Iterable[tuple[float, float | None, str]]) -> tuple[Segment, ...]:
    """Cues as segments in time order: cleaned, empty ones dropped, a cue repeating the one
    before merged into it; a cue without an end lasts until the next (at most
    ``OPEN_CUE_S``)."""
    ordered = sorted(((max(0.0, s), e, clean(t)) for s, e, t in cues), key=lambda c: c[0])
    ordered = [c for c in ordered if c[2]]
    out: list[Segment] = []
    for i, (start, end, text) in enumerate(ordered):
        if end is None:
            following = ordered[i + 1][0] if i + 1 < len(ordered) else start + OPEN_CUE_S
            end = start + min(OPEN_CUE_S, max(0.0, following - start))
        if out and out[-1].text == text:
            out[-1] = Segment(out[-1].start, max(out[-1].end, end), text)
            continue
        out.append(Segment(start, max(start, end), text))
    return tuple(out)


def as_transcript(found: tuple[Segment, ...], language: str | None) -> Transcript:
    return Transcript(segments=found, language=normalize_language(language))
