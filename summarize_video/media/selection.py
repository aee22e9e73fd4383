"""Choose which frames to caption: one per shot (scene cuts), and no near-duplicates.

``scene_frames`` decodes every frame, compares a 64-pixel-wide HSV version of each frame with
the one before (the measure of PySceneDetect's ContentDetector), and yields the first frame of
each new shot, plus a forced frame when a shot runs long. ``drop_near_duplicates`` thins any
frame stream by dropping frames that look the same as the last one kept.

Both are generators that hold one pending frame: a frame's ``until`` (the end of the time it
stands for) is only known once the next frame is chosen, so each frame is yielded one step late.
Memory does not grow with the length of the video.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import ConfigError, DecodeError
from ..options import DEFAULT_DUPLICATE_THRESHOLD, DEFAULT_SCENE_THRESHOLD, Options
from .decoding import to_image
from .frames import Frame, SamplingStats, sample_frames
from .probe import (
    container_origin,
    main_video_stream,
    open_container,
    rotation_of,
    sample_aspect,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameChoice:
    """The options that decide which frames are captioned, and nothing else: what a decoding
    child process is given (never the whole ``Options``, which holds the API key)."""

    # "interval" (one frame every `interval` s) or "scene" (one per shot).
    sampling: str
    # Seconds between sampled frames (interval mode).
    interval: float
    # Scene mode: content change that counts as a cut, fewest and most seconds between frames.
    scene_threshold: float
    min_scene_gap: float
    max_scene_gap: float
    # Longest side, in pixels, frames are scaled down to; None keeps their size.
    max_side: int | None
    # Fraction of the picture that must change for a frame to be kept; 0 keeps all.
    dedup_threshold: float
    # Decoding processes for a long file; None picks from the cores.
    workers: int | None = None

    @classmethod
    def from_options(cls, o: Options) -> FrameChoice:
        return cls(sampling=o.sampling, interval=o.interval, scene_threshold=o.scene_threshold,
                   min_scene_gap=o.min_scene_gap, max_scene_gap=o.max_scene_gap,
                   max_side=o.frame_max_side, dedup_threshold=o.dedup_threshold,
                   workers=o.workers)


def choose_frames(path: str | Path, duration: float | None, choice: FrameChoice,
                  counts: dict[str, int], live: dict[str, Any] | None = None
                  ) -> Iterator[Frame]:
    """Frames to caption: sampled by interval or by scene, near-duplicates dropped, decoded in
    this process.

    ``counts`` is filled once the frames are consumed: decoded, sampled, kept, dropped.
    ``live`` gets the sampler's counters while it runs (``"sampling"``: ``SamplingStats``,
    ``"scene"``: a dict), for a watchdog.
    """
    live = live if live is not None else {}
    scene: dict[str, int] = {}
    sampling: SamplingStats = live.setdefault("sampling", SamplingStats())
    c = choice
    if c.sampling == "scene":
        sampled = scene_frames(path, threshold=c.scene_threshold, min_gap=c.min_scene_gap,
                               max_gap=c.max_scene_gap, max_side=c.max_side, stats=scene,
                               counts=live.setdefault("scene", {}))
    else:
        sampled = sample_frames(path, c.interval, max_side=c.max_side, workers=c.workers,
                                stats=sampling)
    dedup: dict[str, int] = {}
    yield from drop_near_duplicates(sampled, threshold=c.dedup_threshold, end=duration,
                                    stats=dedup)
    if c.sampling == "scene":
        counts.update(decoded=scene.get("decoded", 0), sampled=scene.get("kept", 0))
    else:
        counts.update(decoded=sampling.decoded, sampled=sampling.kept)
    counts.update(kept=dedup.get("kept", 0), dropped=dedup.get("dropped", 0))


# Width of the frames the cut detector compares; 64 px scores within 1 of 96 or 256 px.
_SIGNAL_WIDTH = 64
# Near-duplicate thumbnails: longest side in pixels, how far (pixels) old content may have
# moved and still count as the same, and how much a pixel must change (0-1 grey) to count.
_THUMB_SIDE = 256
_SHIFT = 4
_DELTA = 0.25
# Half a frame at 1000 fps: tolerance when comparing frame times with gaps.
_EPS = 5e-4
_KEYS = ("decoded", "kept", "dropped")


def scene_frames(
    path: str | Path,
    *,
    threshold: float = DEFAULT_SCENE_THRESHOLD,
    min_gap: float = 1.0,
    max_gap: float = 30.0,
    max_side: int | None = 768,
    stats: dict[str, int] | None = None,
    counts: dict[str, int] | None = None,
) -> Iterator[Frame]:
    """Yield the first frame of the video and the first frame of each new shot.

    A cut is a frame whose HSV difference from the frame before (mean absolute difference of
    hue, saturation and value, each 0-255, averaged: PySceneDetect's ContentDetector score) is
    at least ``threshold``. Frames are never closer than ``min_gap`` seconds. A cut inside that
    gap is not lost: if the shot it starts differs from the last yielded frame by
    ``threshold``, the first frame once the gap is over is yielded (so a flash, or a quick cut
    back to the same shot, yields nothing). Cut-level scores on every frame straight after a
    yielded one are the same transition (a fade-in after a cut) and are not cuts of their own.
    When ``max_gap`` seconds pass without a yielded frame, the current frame is yielded anyway
    (``float("inf")`` turns that off).

    ``Frame.t`` is the frame's presentation time from the container start; ``Frame.until`` is
    the next yielded frame's time, or the end of the last decoded frame. ``stats`` gets
    ``decoded`` (frames decoded), ``kept`` and ``dropped`` added at the end; ``counts``, when
    given, has ``decoded`` and ``kept`` counted up as it goes (for a watchdog). A file that
    stops decoding midway yields what came before and logs a warning; one that cannot be
    decoded at all raises ``DecodeError``; a file without video yields nothing.
    """
    if not threshold >= 0:
        raise ConfigError(f"scene threshold must be 0 or more, got {threshold}", stage="sample")
    if not 0 <= min_gap <= max_gap or not max_gap > 0:
        raise ConfigError(
            f"need 0 <= min_gap <= max_gap and max_gap > 0, got {min_gap} and {max_gap}",
            stage="sample",
        )
    counts = {} if counts is None else counts
    counts.update(decoded=0, kept=0)
    container = open_container(path, stage="sample")
    try:
        stream = main_video_stream(container)
        if stream is None:
            return
        stream.thread_type = "AUTO"
        yield from _scenes(container, stream, str(path), threshold, min_gap, max_gap, max_side,
                           counts)
    finally:
        container.close()
        _add(stats, counts["decoded"], counts["kept"])
        log.debug("%s: scenes: %d frames decoded, %d kept", path, counts["decoded"],
                  counts["kept"])


def _scenes(container: Any, stream: Any, path: str, threshold: float, min_gap: float,
            max_gap: float, max_side: int | None, counts: dict[str, int]) -> Iterator[Frame]:
    import av

    origin = container_origin(container)
    sar = sample_aspect(stream)
    rate = stream.average_rate or stream.guessed_rate
    step = 1.0 / float(rate) if rate else 0.0
    signal = _HsvSignal()
    rotation = 0
    pending: Frame | None = None  # chosen, waiting for its ``until``
    pending_sig = prev_sig = None  # HSV signals of the pending frame and of the frame before
    waiting_sig = None  # first frame of a shot that began inside min_gap of the pending frame
    transition = False  # every frame since the pending one scored as a cut
    raw_t: float | None = None
    end = 0.0
    try:
        for frame in container.decode(stream):
            raw_t = float(frame.time) if frame.time is not None else (
                raw_t + step if raw_t is not None else 0.0)
            t = round(max(raw_t - origin, 0.0), 6)
            end = max(end, t + (_duration(frame) or step))
            sig = signal(frame)
            counts["decoded"] += 1
            take = pending is None
            if pending is not None:
                cut = _content_score(sig, prev_sig) >= threshold
                since = t - pending.t
                if cut and since >= min_gap - _EPS:
                    take = True
                elif cut and not transition:
                    waiting_sig = sig
                transition = transition and cut
                if not take and waiting_sig is not None and since >= min_gap - _EPS:
                    # The shot that began inside the gap counts if it differs from the last
                    # frame taken: a flash, or a quick cut back, yields nothing.
                    take = _content_score(waiting_sig, pending_sig) >= threshold
                    waiting_sig = None
                if since >= max_gap - _EPS:
                    take = True
            prev_sig = sig
            if not take:
                continue
            if pending is None:
                rotation = rotation_of(stream, frame)
            chosen = Frame(t=t, image=to_image(frame, sar, rotation, max_side))
            counts["kept"] += 1
            if pending is not None:
                yield replace(pending, until=t)
            pending, pending_sig, waiting_sig, transition = chosen, sig, None, True
    except (av.FFmpegError, ValueError) as exc:
        if pending is None:
            raise DecodeError(f"could not decode video ({exc})", path=path, stage="sample",
                              hint="the file may be damaged or use an unsupported codec"
                              ) from exc
        log.warning("%s: sample: decoding stopped at %.2f s (%s); kept %d frames", path,
                    end, exc, counts["kept"])
    if pending is None:
        raise DecodeError("no decodable video frame", path=path, stage="sample",
                          hint="the file may be damaged or use an unsupported codec")
    yield replace(pending, until=round(max(end, pending.t), 6))


class _HsvSignal:
    """Each frame as a tiny HSV image (uint8, OpenCV ranges), scaled with one cached context."""

    def __init__(self) -> None:
        from av.video.reformatter import VideoReformatter

        self._reformatter = VideoReformatter()
        self._size: tuple[int, int] | None = None

    def __call__(self, frame: Any) -> np.ndarray:
        import cv2

        if self._size is None:
            height = round(_SIGNAL_WIDTH * frame.height / max(frame.width, 1))
            self._size = (_SIGNAL_WIDTH, min(max(height, 8), 4 * _SIGNAL_WIDTH))
        width, height = self._size
        # A cached scaler: frame.reformat() builds a new one per call, 3x slower on small video.
        rgb = self._reformatter.reformat(frame, width=width, height=height, format="rgb24",
                                         interpolation="AREA").to_ndarray()
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)


def _content_score(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute HSV difference, averaged over the three channels (0-255 scale)."""
    import cv2

    return sum(cv2.mean(cv2.absdiff(a, b))[:3]) / 3


def _duration(frame: Any) -> float:
    duration = getattr(frame, "duration", None)
    if duration and frame.time_base:
        return float(duration * frame.time_base)
    return 0.0


def drop_near_duplicates(
    frames: Iterable[Frame],
    *,
    threshold: float = DEFAULT_DUPLICATE_THRESHOLD,
    end: float | None = None,
    stats: dict[str, int] | None = None,
) -> Iterator[Frame]:
    """Drop frames that look the same as the last kept frame; set ``until`` on the kept ones.

    A frame is kept when ``changed_area`` between it and the last kept frame is at least
    ``threshold`` (the first frame is always kept; ``threshold=0`` keeps every frame). Each
    kept frame's ``until`` is the next kept frame's time; for the last one it is ``end`` when
    given, else the last input frame's ``until`` (or its time when it has none). ``stats`` gets
    ``decoded`` (frames received), ``kept`` and ``dropped`` added.
    """
    if not threshold >= 0:
        raise ConfigError(f"duplicate threshold must be 0 or more, got {threshold}",
                          stage="sample")
    seen = dropped = 0
    pending: Frame | None = None
    pending_thumb: np.ndarray | None = None
    last: Frame | None = None
    try:
        for frame in frames:
            seen += 1
            last = frame
            thumb = _thumbnail(frame.image) if threshold > 0 else None
            if (pending is not None and thumb is not None and pending_thumb is not None
                    and changed_area(pending_thumb, thumb) < threshold):
                dropped += 1
                continue
            if pending is not None:
                yield replace(pending, until=frame.t)
            pending, pending_thumb = frame, thumb
        if pending is not None and last is not None:
            stop = end if end is not None else last.until if last.until is not None else last.t
            yield replace(pending, until=max(stop, pending.t))
    finally:
        _add(stats, seen, seen - dropped)


def changed_area(a: np.ndarray | Image.Image, b: np.ndarray | Image.Image) -> float:
    """How much of picture ``b`` is new compared with ``a``: a fraction of the area, 0 to 1.

    Both are compared as grey thumbnails at most 256 px on a side (values 0-1). A thumbnail
    pixel counts as changed when it is more than 0.25 darker than the darkest, or lighter than
    the lightest, pixel within 4 px of the same place in the other picture (checked both
    ways). So noise, compression and a head or camera moving by up to ~1.5 % of the width count
    for nothing, while new text on a plain background, an object appearing or a new shot count
    in full. For pictures 256 px or larger the result hardly depends on their size.
    """
    import cv2

    x = a if isinstance(a, np.ndarray) else _thumbnail(a)
    y = b if isinstance(b, np.ndarray) else _thumbnail(b)
    if x.shape != y.shape:
        y = cv2.resize(y, (x.shape[1], x.shape[0]), interpolation=cv2.INTER_AREA)
    kernel = np.ones((2 * _SHIFT + 1, 2 * _SHIFT + 1), np.uint8)

    def unexplained(old: np.ndarray, new: np.ndarray) -> np.ndarray:
        return np.maximum(new - cv2.dilate(old, kernel), cv2.erode(old, kernel) - new)

    changed = np.maximum(unexplained(x, y), unexplained(y, x)) > _DELTA
    return float(changed.mean())


def _thumbnail(image: Image.Image) -> np.ndarray:
    scale = min(1.0, _THUMB_SIDE / max(image.size))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    grey = image.convert("L")
    if size != grey.size:
        grey = grey.resize(size, Image.Resampling.BOX)
    return np.asarray(grey, dtype=np.float32) / 255.0


def _add(stats: dict[str, int] | None, seen: int, kept: int) -> None:
    if stats is None:
        return
    for key, value in zip(_KEYS, (seen, kept, seen - kept), strict=True):
        stats[key] = stats.get(key, 0) + value


__all__ = [
    "DEFAULT_DUPLICATE_THRESHOLD",
    "DEFAULT_SCENE_THRESHOLD",
    "changed_area",
    "drop_near_duplicates",
    "scene_frames",
]
