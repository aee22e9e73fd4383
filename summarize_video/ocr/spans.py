"""Text read frame by frame, turned into spans: one per distinct text block for as long as it
stays on screen.

A block read again on the next sampled frame (the same text give or take a few misread
characters) extends its span; a slide shown for two minutes is one span, a subtitle that
changes starts a new one. A block missed on one frame and read again on the next is still one
span (readers flicker on motion blur and fades).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from ..timeline import ScreenText
from .base import TextBlock

# Two readings are the same text when their letters and digits agree this much (0-1).
SAME_TEXT = 0.8
# Frames a span may go unread before it ends.
MISSES_ALLOWED = 1


@dataclass
class _Open:
    key: str
    text: str
    score: float
    t: float
    until: float
    missed: int = 0


def _key(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def _same(a: str, b: str) -> bool:
    if a == b:
        return True
    if not a or not b or min(len(a), len(b)) / max(len(a), len(b)) < SAME_TEXT:
        return False
    return SequenceMatcher(None, a, b, autojunk=False).ratio() >= SAME_TEXT


def track(frames: Iterable[tuple[float, float | None, Sequence[TextBlock]]]
          ) -> list[ScreenText]:
    """Spans from ``(t, until, blocks)`` per sampled frame, in time order (``until``: the end
    of the time the frame stands for, None for just its own time). Each span keeps its most
    confident reading; the result is ordered by start time, then text."""
    open_: list[_Open] = []
    done: list[_Open] = []
    for t, until, blocks in frames:
        end = until if until is not None and until > t else t
        seen: set[int] = set()
        for block in blocks:
            key = _key(block.text)
            if not key:
                continue
            # The same text twice on one frame (a name in a corner and a caption) is one span.
            match = next((i for i, o in enumerate(open_) if _same(o.key, key)), None)
            if match is None:
                open_.append(_Open(key, block.text, block.score, t, end))
                seen.add(len(open_) - 1)
                continue
            span = open_[match]
            seen.add(match)
            span.until, span.missed = max(span.until, end), 0
            if block.score > span.score:
                span.text, span.key, span.score = block.text, key, block.score
        still: list[_Open] = []
        for i, span in enumerate(open_):
            if i not in seen:
                span.missed += 1
            (done if span.missed > MISSES_ALLOWED else still).append(span)
        open_ = still
    done += open_
    return sorted((ScreenText(s.t, s.until, s.text) for s in done),
                  key=lambda s: (s.t, s.until, s.text))
