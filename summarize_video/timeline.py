"""Merge captions and transcript into one compact, time-ordered text for the reasoning LLM.

Each line is a stamp, a tag and the text: ``01:05 see: a man at a whiteboard`` for what a frame
shows, ``01:07 say: so the next step is...`` for speech. Stamps are ``mm:ss``, ``h:mm:ss`` past
an hour.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SEE = "see"
SAY = "say"


@dataclass(frozen=True)
class Caption:
    # Presentation time of the captioned frame, in seconds.
    t: float
    # What the captioning model said the frame shows.
    text: str
    # End of the time span the frame stands for (near-duplicates after it were not captioned).
    until: float | None = None


@dataclass(frozen=True)
class TimelineEntry:
    t: float
    kind: str  # SEE or SAY
    text: str


def merge_repeats(captions: Iterable[Caption]) -> list[Caption]:
    """Consecutive captions with the same text become one caption spanning their time range."""
    merged: list[Caption] = []
    for c in captions:
        if merged and _one_line(merged[-1].text) == _one_line(c.text):
            merged[-1] = Caption(merged[-1].t, merged[-1].text, c.until)
        else:
            merged.append(c)
    return merged


def format_timestamp(seconds: float) -> str:
    """``mm:ss`` below an hour, ``h:mm:ss`` from an hour on (seconds rounded down)."""
    total = max(0, int(seconds + 1e-6))
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def merge(captions: Iterable[Caption], segments: Iterable[object]) -> list[TimelineEntry]:
    """Captions and transcript segments (anything with ``start`` and ``text``) in time order.

    At equal times the picture comes before the words. Empty texts are left out.
    """
    entries = [TimelineEntry(c.t, SEE, _one_line(c.text)) for c in captions]
    entries += [
        TimelineEntry(float(s.start), SAY, _one_line(s.text))  # type: ignore[attr-defined]
        for s in segments
    ]
    order = {SEE: 0, SAY: 1}
    return sorted((e for e in entries if e.text), key=lambda e: (e.t, order[e.kind]))


def render(entries: Sequence[TimelineEntry]) -> str:
    """One line per entry: ``stamp kind: text``."""
    return "\n".join(f"{format_timestamp(e.t)} {e.kind}: {e.text}" for e in entries)


def build_timeline(captions: Iterable[Caption], segments: Iterable[object]) -> str:
    return render(merge(captions, segments))


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
