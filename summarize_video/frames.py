"""Frame sampling: one RGB frame every ``interval`` seconds with its true presentation time.

Frames are decoded in order with FFmpeg (PyAV). Only the frames that are kept are converted to
RGB, and they are scaled down in the same step, so the cost stays close to decoding alone. The
generator holds one frame at a time: memory does not grow with the length of the video.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from .errors import ConfigError, DecodeError
from .probe import (
    container_origin,
    display_size,
    main_video_stream,
    open_container,
    rotation_of,
    sample_aspect,
)

log = logging.getLogger(__name__)

# Half a frame at 1000 fps: tolerance for targets that fall exactly on a frame time.
_EPS = 5e-4

_TRANSPOSE = {
    90: Image.Transpose.ROTATE_270,  # PIL turns counter-clockwise; 270 ccw = 90 clockwise
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class Frame:
    # Presentation time in seconds from the start of the file.
    t: float
    # The frame as an upright RGB image at display aspect, downscaled for captioning.
    image: Image.Image
    # End of the time span this frame stands for (set when near-duplicates after it were
    # dropped or by scene sampling); None means "until the next frame".
    until: float | None = None


def sample_frames(
    path: str | Path, interval: float = 5.0, *, max_side: int | None = 768
) -> Iterator[Frame]:
    """Yield the first frame at or after each multiple of ``interval`` seconds.

    ``Frame.t`` is the presentation time of the frame actually used, in seconds from the
    container's start. A clip shorter than the interval still yields its first frame. A file
    that stops decoding midway yields the frames before the damage and logs a warning.
    """
    if not interval > 0:
        raise ConfigError(f"interval must be positive, got {interval}", stage="sample")
    container = open_container(path, stage="sample")
    try:
        stream = main_video_stream(container)
        if stream is None:
            return
        stream.thread_type = "AUTO"
        origin = container_origin(container)
        sar = sample_aspect(stream)
        yielded = 0
        next_target = 0.0
        last_t: float | None = None
        rotation: int | None = None
        try:
            for frame in container.decode(stream):
                t = _frame_time(frame, last_t, stream)
                if t is None:
                    continue
                t -= origin
                last_t = t + origin
                if yielded and t < next_target - _EPS:
                    continue
                if rotation is None:
                    rotation = rotation_of(stream, frame)
                image = _to_image(frame, sar, rotation, max_side)
                yield Frame(t=round(max(t, 0.0), 6), image=image)
                yielded += 1
                # The next target is the first multiple of the interval after this frame.
                next_target = (int((max(t, 0.0) + _EPS) // interval) + 1) * interval
        except (_ffmpeg_error(), ValueError) as exc:
            if not yielded:
                raise DecodeError(
                    f"could not decode video ({exc})",
                    path=str(path),
                    stage="sample",
                    hint="the file may be damaged or use an unsupported codec",
                ) from exc
            log.warning("%s: sample: decoding stopped at %.2f s (%s); kept %d frames",
                        path, last_t or 0.0, exc, yielded)
        if not yielded:
            raise DecodeError("no decodable video frame", path=str(path), stage="sample",
                              hint="the file may be damaged or use an unsupported codec")
    finally:
        container.close()


def _ffmpeg_error() -> type[Exception]:
    import av

    return av.FFmpegError


def _frame_time(frame: Any, last_t: float | None, stream: Any) -> float | None:
    if frame.time is not None:
        return float(frame.time)
    # No timestamp: continue from the previous frame at the stream's rate.
    rate = stream.average_rate or stream.guessed_rate
    if last_t is None:
        return 0.0
    return last_t + (1.0 / float(rate) if rate else 0.0)


def _to_image(frame: Any, sar: Any, rotation: int, max_side: int | None) -> Image.Image:
    """Convert one frame to an upright RGB image at display aspect, scaled in one step."""
    disp_w, disp_h = display_size(frame.width, frame.height, sar, 0)
    scale = 1.0
    if max_side and max(disp_w, disp_h) > max_side:
        scale = max_side / max(disp_w, disp_h)
    out_w = max(2, round(disp_w * scale))
    out_h = max(2, round(disp_h * scale))
    if (out_w, out_h) == (frame.width, frame.height):
        image = frame.to_image()
    else:
        image = frame.reformat(width=out_w, height=out_h, format="rgb24",
                               interpolation="AREA").to_image()
    if rotation in _TRANSPOSE:
        image = image.transpose(_TRANSPOSE[rotation])
    return image
