"""Limits on what a file's headers may claim, checked before anything is decoded.

A header is a claim, and a hostile or damaged file can claim a 16000x16000 picture (hundreds of
megabytes per decoded frame), a thousand frames a second or years of duration. Such a file is
refused at probe time with an error that names the limit and the flag that raises it. The
defaults let through anything a camera, phone or screen recorder makes: 8K at any aspect, the
frame rates of slow-motion phone video.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import InputError

# Pixels of one stored picture: 8192 x 8192 (an 8K frame is 7680 x 4320, 33 megapixels).
DEFAULT_MAX_PIXELS = 8192 * 8192
# Average frames per second (phones record slow motion at 240).
DEFAULT_MAX_FPS = 480.0
STAGE = "probe"
# Bytes of subtitle text read for a transcript: a sidecar file larger than this is not read at
# all, an embedded track stops there (a feature film's subtitles are 50-200 kB).
MAX_SUBTITLE_BYTES = 8 * 2**20


@dataclass(frozen=True)
class Limits:
    # Largest picture, width x height in stored pixels; None: no limit.
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    # Highest average frame rate; None: no limit.
    max_fps: float | None = DEFAULT_MAX_FPS
    # Longest duration in seconds; None: no limit.
    max_duration: float | None = None

    @classmethod
    def from_options(cls, options: Any) -> Limits:
        """The limits of an ``Options`` (0 in any of them means no limit)."""
        return cls(max_pixels=options.max_pixels or None, max_fps=options.max_fps or None,
                   max_duration=options.max_duration or None)

    def check_picture(self, path: str, width: int, height: int) -> None:
        if self.max_pixels and width * height > self.max_pixels:
            raise InputError(
                f"the video claims {width}x{height} pixels ({width * height / 1e6:.1f} "
                f"megapixels), over the limit of {self.max_pixels / 1e6:.1f}", path=path,
                stage=STAGE, hint=_raise("--max-pixels", "max_pixels"))

    def check_fps(self, path: str, fps: float | None) -> None:
        if self.max_fps and fps is not None and fps > self.max_fps:
            raise InputError(
                f"the video claims {fps:g} frames per second, over the limit of "
                f"{self.max_fps:g}", path=path, stage=STAGE, hint=_raise("--max-fps", "max_fps"))

    def check_duration(self, path: str, seconds: float | None) -> None:
        if self.max_duration and seconds is not None and seconds > self.max_duration:
            raise InputError(
                f"the file claims a duration of {seconds:.0f} s, over the limit of "
                f"{self.max_duration:g} s", path=path, stage=STAGE,
                hint=_raise("--max-duration", "max_duration"))


def _raise(flag: str, key: str) -> str:
    return (f"if the file is genuine, raise {flag} (config key {key}; 0 for no limit); "
            "otherwise the header is damaged or forged")
