"""Merge captions and transcript into one compact, time-ordered text for the reasoning LLM.

Each line is a stamp, a tag and the text: ``01:05 see: a man at a whiteboard`` for what a frame
shows, ``01:06-01:30 read: Name the following shapes`` for text on screen (one line per text
block for as long as it stays), ``01:07 say: so the next step is...`` for speech. Stamps are
``mm:ss``, ``h:mm:ss`` past an hour.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

SEE = "see"
SAY = "say"
READ = "read"


@dataclass(frozen=True)
class Caption:
    # Presentation time of the captioned frame, in seconds.
    t: float
    # What the captioning model said the frame shows.
    text: str
    # End of the time span the frame stands for (near-duplicates after it were not captioned).
    until: float | None = None
    # The frame as a small JPEG (about 160 px), base64: for the HTML report; never in the JSON.
    thumbnail: str | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class ScreenText:
    # When the text was first read on a sampled frame, in seconds.
    t: float
    # End of the span it stayed on screen (the last frame it was read on, and the time that
    # frame stands for).
    until: float
    # The text as read, words separated by single spaces.
    text: str


@dataclass(frozen=True)
class TimelineEntry:
    t: float
    kind: str  # SEE, READ or SAY
    text: str
    # End of a range of identical captions merged into this entry; None for a single one.
    end: float | None = None


def merge_repeats(captions: Iterable[Caption]) -> list[tuple[Caption, bool]]:
    """Consecutive captions with the same text become one caption spanning their time range.

    Each result says whether it stands for more than one caption.
    """
    merged: list[tuple[Caption, bool]] = []
    for c in captions:
        if merged and _one_line(merged[-1][0].text) == _one_line(c.text):
            first = merged[-1][0]
            merged[-1] = (Caption(first.t, first.text, c.until if c.until else c.t), True)
        else:
            merged.append((c, False))
    return merged


def format_timestamp(seconds: float) -> str:
    """``mm:ss`` below an hour, ``h:mm:ss`` from an hour on (seconds rounded down)."""
    total = max(0, int(seconds + 1e-6))
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def merge(captions: Iterable[Caption], segments: Iterable[object],
          screen: Iterable[ScreenText] = ()) -> list[TimelineEntry]:
    """Captions, transcript segments (anything with ``start`` and ``text``) and text read on
    screen, in time order.

    At equal times the picture comes before the text on it, and both before the words. Empty
    texts are left out, and consecutive identical captions become one entry with a time range.
    """
    entries = [
        TimelineEntry(c.t, SEE, _one_line(c.text), c.until if ranged else None)
        for c, ranged in merge_repeats(captions)
    ]
    entries += [
        TimelineEntry(float(s.start), SAY, _one_line(s.text))  # type: ignore[attr-defined]
        for s in segments
    ]
    entries += [TimelineEntry(r.t, READ, _one_line(r.text), r.until) for r in screen]
    order = {SEE: 0, READ: 1, SAY: 2}
    return sorted((e for e in entries if e.text), key=lambda e: (e.t, order[e.kind]))


def render(entries: Sequence[TimelineEntry]) -> str:
    """One line per entry: ``stamp kind: text``; merged captions get ``start-end`` stamps."""
    return "\n".join(f"{_stamp(e)} {e.kind}: {e.text}" for e in entries)


def _stamp(e: TimelineEntry) -> str:
    if e.end is not None and format_timestamp(e.end) != format_timestamp(e.t):
        return f"{format_timestamp(e.t)}-{format_timestamp(e.end)}"
    return format_timestamp(e.t)


def build_timeline(captions: Iterable[Caption], segments: Iterable[object],
                   screen: Iterable[ScreenText] = ()) -> str:
    return render(merge(captions, segments, screen))


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
