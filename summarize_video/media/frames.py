"""Frame sampling: one RGB frame every ``interval`` seconds with its true presentation time.

Frames are decoded with FFmpeg (PyAV). A demux pass without decoding first indexes every packet,
so the kept frames are known in advance and only the packets from the keyframe before each of
them are decoded (see ``decoding``); long files are split across worker processes (see
``parallel``). Files whose index cannot be trusted are decoded sequentially. Only kept frames
are converted to RGB, scaled down in the same step. Every path gives the same frames: same
times, same pixels. The generator holds one frame at a time (the parallel path a few chunks).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from PIL import Image

from ..errors import ConfigError, DecodeError
from .decoding import (
    EPS,
    DecodeFailed,
    PacketSource,
    PlanMismatch,
    configure,
    decode_spans,
    make_plan,
    scan_packets,
    to_image,
)
from .parallel import default_workers
from .probe import container_origin, main_video_stream, open_container, rotation_of, sample_aspect

log = logging.getLogger(__name__)

__all__ = [
    "MIN_PARALLEL_S",
    "MIN_PARALLEL_WORK",
    "Frame",
    "SamplingStats",
    "sample_frames",
]

# Files shorter than this are never split across processes: start-up would cost more.
MIN_PARALLEL_S = 60.0
# Nor is less decoding than this many pixels (frames to decode x frame size: about 2000 frames
# of 1080p, a few seconds); scaled down with ``min_parallel_s`` so tests can force it.
MIN_PARALLEL_WORK = 4e9


@dataclass(frozen=True)
class Frame:
    # Presentation time in seconds from the start of the file.
    t: float
    # The frame as an upright RGB image at display aspect, downscaled for captioning.
    image: Image.Image
    # End of the time span this frame stands for (set when near-duplicates after it were
    # dropped or by scene sampling); None means "until the next frame".
    until: float | None = None


@dataclass
class SamplingStats:
    """What one ``sample_frames`` run cost; filled in as it goes."""

    # Packets sent to a decoder (= frames decoded), all processes together.
    decoded: int = 0
    # Frames yielded.
    kept: int = 0
    # Packets read by the index pass (demuxed, not decoded).
    scanned: int = 0
    # Seeks made (all processes).
    seeks: int = 0
    # Frames that must be decoded at minimum: for each kept frame, the frames from the keyframe
    # before it up to it, counted once. None when the file could not be indexed.
    minimum: int | None = None
    # Video packets in the file per the index (what a full decode costs); None if not indexed.
    packets: int | None = None
    # "plan" (decode only the spans needed), "parallel", or "sequential"; "+sequential" is
    # appended when a plan was abandoned midway because the file did not match its index.
    mode: str = ""
    # Processes that decoded.
    workers: int = 1


def sample_frames(
    path: str | Path,
    interval: float = 5.0,
    *,
    max_side: int | None = 768,
    workers: int | None = None,
    stats: SamplingStats | None = None,
    seek: bool = True,
    min_parallel_s: float = MIN_PARALLEL_S,
) -> Iterator[Frame]:
    """Yield the first frame at or after each multiple of ``interval`` seconds.

    ``Frame.t`` is the presentation time of the frame actually used, in seconds from the
    container's start. A clip shorter than the interval still yields its first frame. A file
    that stops decoding midway yields the frames before the damage and logs a warning.

    ``workers``: processes for files longer than ``min_parallel_s`` that need a few seconds of
    decoding (default: one per core, at most 16; 1 keeps everything in this process).
    ``seek=False`` decodes every frame in order (the reference path). ``stats`` is filled with
    what the run cost.
    """
    if not interval > 0:
        raise ConfigError(f"interval must be positive, got {interval}", stage="sample")
    stats = stats if stats is not None else SamplingStats()
    run = _Run(path, interval, max_side, stats)
    container = open_container(path, stage="sample")
    try:
        stream = main_video_stream(container)
        if stream is None:
            return
        run.stream_index = stream.index
        run.origin = container_origin(container)
        run.sar = sample_aspect(stream)
        run.tags = SimpleNamespace(metadata=dict(stream.metadata or {}))
        run.size = (stream.codec_context.width or 0, stream.codec_context.height or 0)
        index = scan_packets(container, stream, stats) if seek else None
    finally:
        container.close()
    planned = index is not None
    while True:
        try:
            if planned:
                yield from run.planned(index, workers, min_parallel_s)
            else:
                stats.mode = f"{stats.mode}+sequential" if stats.mode else "sequential"
                yield from run.sequential()
            break
        except PlanMismatch as exc:
            if not planned:
                raise
            log.info("%s: sample: %s; decoding the rest sequentially", path, exc)
            planned = False
        except (_ffmpeg_error(), ValueError, DecodeFailed) as exc:
            run.stopped(exc)
            break
    if run.index_error and run.yielded:
        log.warning("%s: sample: the file ends in damage (%s); kept %d frames",
                    path, run.index_error, run.yielded)
    if not run.yielded:
        raise DecodeError("no decodable video frame", path=str(path), stage="sample",
                          hint="the file may be damaged or use an unsupported codec")


class _Run:
    """State shared by the paths of one sampling run, so a fallback resumes where it stopped."""

    def __init__(self, path: str | Path, interval: float, max_side: int | None,
                 stats: SamplingStats) -> None:
        self.path, self.interval, self.max_side, self.stats = path, interval, max_side, stats
        self.stream_index = 0
        self.origin = 0.0
        self.sar = Fraction(1)
        self.rotation: int | None = None
        self.yielded = 0
        self.next_target = 0.0
        self.last_t: float | None = None  # raw time of the last decoded frame
        self.index_error: str | None = None
        self.tags: Any = SimpleNamespace(metadata={})  # the stream's tags, for rotation_of
        self.size = (0, 0)  # stored width and height
        self.reformatter: Any = None  # one scaler context for all the frames of the run

    def _open(self) -> Any:
        return open_container(self.path, stage="sample")

    def emit(self, t: float, image: Image.Image) -> Frame:
        """Record a kept frame (t from container start) and build it."""
        self.yielded += 1
        self.stats.kept += 1
        self.next_target = (int((max(t, 0.0) + EPS) // self.interval) + 1) * self.interval
        return Frame(t=round(max(t, 0.0), 6), image=image)

    def convert(self, frame: Any) -> Image.Image:
        if self.rotation is None:
            self.rotation = rotation_of(self.tags, frame)
        if self.reformatter is None:
            from av.video.reformatter import VideoReformatter

            self.reformatter = VideoReformatter()
        return to_image(frame, self.sar, self.rotation, self.max_side, self.reformatter)

    def sequential(self) -> Iterator[Frame]:
        """Decode every frame in order; resumes after the frames already yielded."""
        container = self._open()
        try:
            stream = container.streams[self.stream_index]
            configure(stream, 0)
            last_t: float | None = None
            for packet in container.demux(stream):
                if packet.size:
                    self.stats.decoded += 1
                for frame in packet.decode():
                    t = _frame_time(frame, last_t, stream)
                    last_t = t
                    self.last_t = t
                    t -= self.origin
                    if self.yielded and t < self.next_target - EPS:
                        continue
                    yield self.emit(t, self.convert(frame))
        finally:
            container.close()

    def planned(self, index: Any, workers: int | None, min_parallel_s: float) -> Iterator[Frame]:
        stats = self.stats
        self.index_error = index.error
        plan = make_plan(index, self.interval, self.origin)
        stats.minimum, stats.packets = plan.minimum, len(index)
        kept_pts = [int(index.pts[k]) for k in plan.kept]
        times = index.times(0.0)
        duration = float(times.max() - times.min())
        workers = default_workers() if workers is None else max(1, workers)
        work = sum(b - a + 1 for a, b in plan.spans) * self.size[0] * self.size[1]
        min_work = MIN_PARALLEL_WORK * min(1.0, max(0.0, min_parallel_s) / MIN_PARALLEL_S)
        if (workers > 1 and duration >= min_parallel_s and work >= min_work
                and len(plan.kept) >= 2 * workers):
            from .parallel import WorkersUnavailable, split_plan

            chunks = split_plan(plan, index, workers, self._frame_bytes())
            if len(chunks) > 1:
                try:
                    yield from self._parallel(index, chunks, workers)
                    return
                except WorkersUnavailable as exc:  # nothing was yielded yet
                    log.warning("%s: sample: no worker processes (%s); decoding here",
                                self.path, exc)
                    stats.workers = 1
        stats.mode = "plan"
        source = PacketSource(self._open, self.stream_index, index)
        try:
            for frame in decode_spans(source, plan.spans, kept_pts, stats):
                self.last_t = frame.time
                yield self.emit(float(frame.time) - self.origin, self.convert(frame))
        finally:
            source.close()

    def _frame_bytes(self) -> int:
        w, h = self.size
        w = round(w * self.sar)
        scale = min(1.0, self.max_side / max(w, h, 1)) if self.max_side else 1.0
        return max(1, round(w * scale) * round(h * scale) * 3)

    def _parallel(self, index: Any, chunks: list[Any], workers: int) -> Iterator[Frame]:
        from .parallel import run_chunks

        self.stats.mode, self.stats.workers = "parallel", workers
        self.rotation = self._first_rotation()
        args = (str(self.path), self.stream_index, self.origin, self.sar, self.rotation,
                self.max_side)
        for t, raw, image in run_chunks(args, index, chunks, workers, self.stats):
            self.last_t = raw
            yield self.emit(t, image)

    def _first_rotation(self) -> int:
        """Rotation as the sequential path sees it: from the first decoded frame."""
        import av

        container = self._open()
        try:
            stream = container.streams[self.stream_index]
            configure(stream, 1)
            try:
                first = next(iter(container.decode(stream)), None)
            except (av.FFmpegError, ValueError):
                first = None
            return rotation_of(self.tags, first)
        finally:
            container.close()

    def stopped(self, exc: Exception) -> None:
        if not self.yielded:
            raise DecodeError(
                f"could not decode video ({exc})",
                path=str(self.path),
                stage="sample",
                hint="the file may be damaged or use an unsupported codec",
            ) from exc
        self.index_error = None
        log.warning("%s: sample: decoding stopped at %.2f s (%s); kept %d frames",
                    self.path, self.last_t or 0.0, exc, self.yielded)


def _ffmpeg_error() -> type[Exception]:
    import av

    return av.FFmpegError


def _frame_time(frame: Any, last_t: float | None, stream: Any) -> float:
    if frame.time is not None:
        return float(frame.time)
    # No timestamp: continue from the previous frame at the stream's rate.
    rate = stream.average_rate or stream.guessed_rate
    if last_t is None:
        return 0.0
    return last_t + (1.0 / float(rate) if rate else 0.0)
