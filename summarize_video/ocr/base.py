"""The screen-reading protocol: frames in, the text blocks read on each out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..media.frames import Frame
    from ..options import Options

# Blocks read with less confidence than this (0-1) are dropped.
MIN_SCORE = 0.9
# Blocks whose text is shorter than this fraction of the frame's height are dropped (tiny print,
# background signs, noise).
MIN_HEIGHT = 0.025


@dataclass(frozen=True)
class TextBlock:
    """One line of text read on a frame."""

    # The text, words separated by single spaces.
    text: str
    # The reader's confidence, 0-1.
    score: float
    # The block's box as fractions of the frame: left, top, right, bottom.
    box: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)


@runtime_checkable
class ScreenReader(Protocol):
    """Anything that reads the text shown on frames: one list of blocks per frame, in order,
    top to bottom. A backend in the registry also has a classmethod ``from_options(options)``
    and ``available(device) -> bool`` (what ``--ocr auto`` asks)."""

    model_id: str

    def read(self, frames: Sequence[Frame]) -> list[list[TextBlock]]: ...


class ReaderBackend(ScreenReader, Protocol):
    """A screen reader that the registry can build by name."""

    @classmethod
    def from_options(cls, options: Options) -> ReaderBackend: ...


def keep(block: TextBlock, min_score: float = MIN_SCORE, min_height: float = MIN_HEIGHT
         ) -> bool:
    """Whether a block is worth a line: confident, tall enough, with two letters or digits (a
    lone character is a fragment: a watermark's corner, a logo)."""
    height = block.box[3] - block.box[1]
    return (block.score >= min_score and height >= min_height
            and sum(ch.isalnum() for ch in block.text) >= 2)
