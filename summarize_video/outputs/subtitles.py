"""Timed text: the visual captions as SRT and WebVTT cues, and YouTube chapter lines.

A caption's cue runs from its frame's time to the end of the span the frame stands for
(``until``), else to the next caption, else one sampling interval on; cues never overlap, so
the file works as an audio-description track. Cue text is one paragraph: no blank line (which
would end the cue), never ``-->`` (which would read as a timing line).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..reasoning.answers import Chapter
from ..timeline import Caption

log = logging.getLogger(__name__)

# YouTube's rules for chapters in a video description (not checked by the writer: it writes
# what the model found and logs what YouTube would refuse).
YOUTUBE_MIN_CHAPTERS = 3
YOUTUBE_MIN_CHAPTER_S = 10.0
START_TITLE = "Start"
# Shortest cue written when a caption's span is empty (a frame at the very end).
MIN_CUE_S = 0.5
_ARROWS = re.compile(r"-{2,}>")


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


def caption_cues(captions: Sequence[Caption], interval: float,
                 duration: float | None = None) -> list[Cue]:
    """One cue per caption with text, in time order, none overlapping the next."""
    ordered = sorted((c for c in captions if clean_cue_text(c.text)), key=lambda c: c.t)
    cues = []
    for i, c in enumerate(ordered):
        nxt = ordered[i + 1].t if i + 1 < len(ordered) else None
        if c.until is not None and c.until > c.t:
            end = c.until
        elif nxt is not None:
            end = nxt
        else:
            end = c.t + interval if duration is None else min(c.t + interval, duration)
        if nxt is not None and nxt > c.t:
            end = min(end, nxt)
        if end <= c.t:
            end = c.t + MIN_CUE_S
        cues.append(Cue(c.t, end, clean_cue_text(c.text)))
    return cues


def clean_cue_text(text: str) -> str:
    """Non-empty lines of ``text``, whitespace collapsed, with no ``-->`` in them."""
    lines = (" ".join(_ARROWS.sub("->", line).split()) for line in str(text).splitlines())
    return "\n".join(line for line in lines if line)


def srt_time(seconds: float) -> str:
    """``00:00:05,000``."""
    h, m, s, ms = _clock(seconds)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def vtt_time(seconds: float) -> str:
    """``00:00:05.000``."""
    h, m, s, ms = _clock(seconds)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def _clock(seconds: float) -> tuple[int, int, int, int]:
    total_ms = max(0, round(seconds * 1000))
    s, ms = divmod(total_ms, 1000)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return h, m, s, ms


def render_srt(cues: Sequence[Cue]) -> str:
    blocks = [f"{i}\n{srt_time(c.start)} --> {srt_time(c.end)}\n{c.text}\n"
              for i, c in enumerate(cues, 1)]
    return "\n".join(blocks)


def render_vtt(cues: Sequence[Cue]) -> str:
    """WebVTT; cue text is escaped, since ``<`` and ``&`` start tags and entities there."""
    blocks = ["WEBVTT\n"]
    blocks += [f"{i}\n{vtt_time(c.start)} --> {vtt_time(c.end)}\n{_vtt_escape(c.text)}\n"
               for i, c in enumerate(cues, 1)]
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def youtube_stamp(seconds: float) -> str:
    """``0:00``, ``12:34``, ``1:02:03`` (seconds rounded down)."""
    total = max(0, int(seconds + 1e-6))
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def youtube_chapters(chapters: Sequence[Chapter]) -> list[Chapter]:
    """Chapters as YouTube lists them: in order, the first at 0:00 (a "Start" chapter is added
    when the model's first one is later), one per second, titles on one line."""
    out: list[Chapter] = []
    for c in sorted(chapters, key=lambda c: c.start):
        title = " ".join(str(c.title).split())
        if not title:
            continue
        stamp = youtube_stamp(c.start)
        if out and youtube_stamp(out[-1].start) == stamp:
            continue
        start = 0.0 if stamp == "0:00" else c.start
        out.append(Chapter(start, title))
    if out and out[0].start > 0:
        out.insert(0, Chapter(0.0, START_TITLE))
    return out


def youtube_problems(chapters: Sequence[Chapter], duration: float | None) -> list[str]:
    """Why YouTube would not show these chapters (empty when it would)."""
    problems = []
    if len(chapters) < YOUTUBE_MIN_CHAPTERS:
        problems.append(f"{len(chapters)} chapter(s); YouTube needs {YOUTUBE_MIN_CHAPTERS}")
    ends = [c.start for c in chapters[1:]] + ([duration] if duration is not None else [])
    short = [c for c, end in zip(chapters, ends, strict=False)
             if end - c.start < YOUTUBE_MIN_CHAPTER_S]
    if short:
        problems.append(f"{len(short)} chapter(s) shorter than {YOUTUBE_MIN_CHAPTER_S:g} s")
    return problems


def render_youtube_chapters(chapters: Sequence[Chapter], duration: float | None = None) -> str:
    """``0:00 Title`` lines for a video description; empty when there are no chapters."""
    listed = youtube_chapters(chapters)
    if not listed:
        return ""
    problems = youtube_problems(listed, duration)
    if problems:
        log.info("chapters written, but YouTube would not show them: %s", "; ".join(problems))
    return "".join(f"{youtube_stamp(c.start)} {c.title}\n" for c in listed)
