"""Frame sampling: one RGB frame every ``interval`` seconds with its true presentation time."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image


@dataclass(frozen=True)
class Frame:
    # Presentation time in seconds from the start of the file.
    t: float
    # The frame as an upright RGB image at display aspect, downscaled for captioning.
    image: Image.Image
