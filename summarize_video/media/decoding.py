"""Decode only what sampling needs: a packet index, a decode plan, and a plan-following decoder.

The sampler keeps the first frame at or after each multiple of the interval. Demuxing is ~100x
cheaper than decoding, so one demux pass (no decoding) learns every packet's presentation time
and keyframe flag. From that index the kept frames are known in advance, and each one needs only
the packets from the keyframe before it up to it (its *span*). Spans that touch are merged, so
dense sampling decodes sequentially and sparse sampling jumps from keyframe to keyframe.

A keyframe is used as an entry point only when it starts a closed group: no packet before it is
shown after it and none after it is shown before it. Packet 0 is always an entry (that is plain
sequential decoding). Everything the index predicts is checked while decoding (packet identity
after every seek, output times, the entry frame being a key frame); any surprise raises
``PlanMismatch`` and the caller falls back to sequential decoding.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
from PIL import Image

from .probe import display_size

log = logging.getLogger(__name__)

# Half a frame at 1000 fps: tolerance for targets that fall exactly on a frame time.
EPS = 5e-4
# Seek only when at least this many packets would otherwise be demuxed and dropped.
SEEK_MIN_PACKETS = 48

_TRANSPOSE = {
    90: Image.Transpose.ROTATE_270,  # PIL turns counter-clockwise; 270 ccw = 90 clockwise
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_90,
}


class PlanMismatch(Exception):
    """The file did not decode the way its packet index predicted."""


class DecodeFailed(Exception):
    """Decoding stopped on damaged data in a worker process (the message says why)."""


@dataclass
class PacketIndex:
    """Every packet of one video stream in decode order (no decoding done)."""

    pts: np.ndarray  # int64 presentation timestamps, in time_base units
    key: np.ndarray  # bool: the container flags the packet as a keyframe
    discard: np.ndarray  # bool: the demuxer asks the decoder to drop the frame (edit lists)
    time_base: Fraction
    # The demuxer failure that ended the scan early (damaged file), or None.
    error: str | None = None

    def __len__(self) -> int:
        return len(self.pts)

    def times(self, origin: float) -> np.ndarray:
        # The same float operations as PyAV's Frame.time, then minus the container origin.
        tb = self.time_base
        return self.pts.astype(np.float64) * tb.numerator / tb.denominator - origin

    def lookup(self) -> Callable[[int | None], int]:
        """pts -> decode index (-1 when the index has no such packet)."""
        order = np.argsort(self.pts, kind="stable")
        spts = self.pts[order]

        def find(pts: int | None) -> int:
            if pts is None:
                return -1
            j = int(np.searchsorted(spts, pts))
            return int(order[j]) if j < len(spts) and spts[j] == pts else -1

        return find


@dataclass
class Plan:
    # Decode indices of the kept frames, in presentation order.
    kept: list[int]
    # For each kept frame, the entry packet its span starts at.
    entry_of: list[int]
    # Merged inclusive decode-index spans [start, end], ascending; each start is an entry.
    spans: list[tuple[int, int]]
    # Packets that must be decoded at minimum: keyframe before each kept frame up to it.
    minimum: int


def scan_packets(container: Any, stream: Any, stats: Any = None) -> PacketIndex | None:
    """Demux the stream without decoding. None when the index cannot drive a plan.
    ``stats.scanned``, when given, counts the packets read as it goes."""
    import av

    pts: list[int] = []
    key: list[bool] = []
    discard: list[bool] = []
    error = None
    ended = False
    try:
        for packet in container.demux(stream):
            if stats is not None:
                stats.scanned += 1
            if packet.size == 0:
                ended = True
                continue
            if ended or packet.pts is None:
                return None  # data after an empty packet, or no timestamp: not plannable
            pts.append(packet.pts)
            key.append(packet.is_keyframe)
            discard.append(packet.is_discard)
    except (av.FFmpegError, ValueError, OSError) as exc:
        error = str(exc) or type(exc).__name__
    if not pts or stream.time_base is None:
        return None
    arr = np.asarray(pts, dtype=np.int64)
    if len(np.unique(arr)) != len(arr):
        return None  # repeated timestamps: output order cannot be predicted
    return PacketIndex(arr, np.asarray(key, dtype=bool), np.asarray(discard, dtype=bool),
                       Fraction(stream.time_base), error)


def select_kept(index: PacketIndex, interval: float, origin: float) -> list[int]:
    """Decode indices of the frames the sequential sampler keeps, in presentation order.

    Replays the sequential rule over the frames sorted by time: the first frame is kept; after
    a kept frame at t the next target is the first multiple of the interval after t.
    """
    shown = np.flatnonzero(~index.discard)
    order = shown[np.argsort(index.pts[shown], kind="stable")]
    times = index.times(origin)[order]
    kept: list[int] = []
    j = 0
    while j < len(order):
        kept.append(int(order[j]))
        t = float(times[j])
        next_target = (int((max(t, 0.0) + EPS) // interval) + 1) * interval
        j = max(j + 1, int(np.searchsorted(times, next_target - EPS, side="left")))
    return kept


def entry_points(index: PacketIndex) -> np.ndarray:
    """For each packet, the closest entry at or before it (a closed-group keyframe, or 0)."""
    pts = index.pts
    n = len(pts)
    before = np.empty(n, dtype=np.int64)
    before[0] = np.iinfo(np.int64).min
    if n > 1:
        before[1:] = np.maximum.accumulate(pts[:-1])
    after = np.minimum.accumulate(pts[::-1])[::-1]
    entry = index.key & (before < pts) & (after == pts)
    entry[0] = True
    return _last_at_or_before(entry)


def make_plan(index: PacketIndex, interval: float, origin: float) -> Plan:
    kept = select_kept(index, interval, origin)
    entry = entry_points(index)
    key = index.key.copy()
    key[0] = True
    keyframe = _last_at_or_before(key)
    entry_of = [int(entry[k]) for k in kept]
    spans = merge_ranges(zip(entry_of, kept, strict=True))
    minimum = sum(b - a + 1 for a, b in merge_ranges((int(keyframe[k]), k) for k in kept))
    return Plan(kept, entry_of, spans, minimum)


def merge_ranges(ranges: Any) -> list[tuple[int, int]]:
    """Union of inclusive integer ranges; touching ranges merge (nothing to skip between)."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _last_at_or_before(flags: np.ndarray) -> np.ndarray:
    return np.maximum.accumulate(np.where(flags, np.arange(len(flags)), 0))


def configure(stream: Any, threads: int) -> None:
    """Codec threading: 0 lets FFmpeg pick the count."""
    stream.thread_type = "AUTO"
    stream.codec_context.thread_count = threads


class PacketSource:
    """Packets in decode order, each checked against the index; seeks when it pays.

    Stays open across calls of ``decode_spans`` (a worker keeps one per file); positions only
    move forward unless a seek is needed. ``seeks`` counts the seeks made.
    """

    def __init__(self, open_fn: Callable[[], Any], stream_index: int, index: PacketIndex, *,
                 threads: int = 0, allow_seek: bool = True,
                 lookup: Callable[[int | None], int] | None = None) -> None:
        self.open_fn, self.stream_index, self.index = open_fn, stream_index, index
        self.lookup = lookup or index.lookup()
        self.pts = index.pts.tolist()  # plain ints: the per-packet check stays cheap
        self.threads = threads
        self.container: Any = None
        self.seekable = allow_seek
        self.seeks = 0
        self._reopen()

    def _reopen(self) -> None:
        if self.container is not None:
            self.container.close()
        self.container = self.open_fn()
        self.stream = self.container.streams[self.stream_index]
        configure(self.stream, self.threads)
        self.packets = self.container.demux(self.stream)
        self.next_i = 0  # decode index of the next packet
        self.pending: Any = None
        # An index read at open (MP4, AVI), or Matroska/WebM, which reads its cues on the
        # first seek. Elsewhere (MPEG-TS/PS) seeking would bisect timestamps: demux through.
        indexed = len(self.stream.index_entries) > 1
        self.seekable = self.seekable and (indexed or "matroska" in self.container.format.name)

    def close(self) -> None:
        self.container.close()

    def goto(self, start: int) -> None:
        """Position so that the next packet is ``start`` (the decoder must be idle)."""
        behind = self.next_i > start
        if self.seekable and (behind or start - self.next_i >= SEEK_MIN_PACKETS):
            self._seek(start)
        elif behind:
            self._reopen()
        while self.next_i < start:
            self.take(self.next_i)

    def _seek(self, start: int) -> None:
        import av

        try:
            self.container.seek(self.pts[start], stream=self.stream, backward=True)
            self.seeks += 1
            self.packets = self.container.demux(self.stream)
            self.pending = None
            first = self._read()
        except (av.FFmpegError, ValueError, OSError, PlanMismatch):
            first = None
        landed = self.lookup(first.pts) if first is not None else -1
        if landed < 0 or landed > start:
            # Landed after the target or somewhere unknown: never trust seeking again here.
            log.debug("seek to packet %d landed at %d: demuxing from the start", start, landed)
            self.seekable = False
            self._reopen()
            return
        self.next_i, self.pending = landed, first

    def _read(self) -> Any:
        if self.pending is not None:
            packet, self.pending = self.pending, None
            return packet
        for packet in self.packets:
            if packet.size:
                return packet
        raise PlanMismatch("the stream ended before the indexed packets")

    def take(self, i: int) -> Any:
        packet = self._read()
        if packet.pts != self.pts[i]:
            raise PlanMismatch(f"packet {i} is not where the index put it")
        self.next_i = i + 1
        return packet


def decode_spans(source: PacketSource, spans: list[tuple[int, int]], kept_pts: list[int],
                 counters: Any) -> Iterator[Any]:
    """Decode the packets of each span and yield the frames whose pts is in ``kept_pts``.

    ``kept_pts`` is in presentation order; frames come out in that order or PlanMismatch is
    raised. ``counters.decoded`` and ``counters.seeks`` grow as packets are decoded and seeks
    made. FFmpeg errors (damaged data) propagate unchanged. The caller closes ``source``.
    """
    index = source.index
    wanted = iter(kept_pts)
    expect = next(wanted, None)
    for start, end in spans:
        seeks = source.seeks
        source.goto(start)
        counters.seeks += source.seeks - seeks
        codec = source.stream.codec_context
        state = _SpanState(index, start)
        for i in range(start, end + 1):
            packet = source.take(i)
            counters.decoded += 1
            for frame in codec.decode(packet):
                if state.check(frame, expect):
                    yield frame
                    expect = next(wanted, None)
        for frame in codec.decode(_drain_packet(index.time_base)):
            if state.check(frame, expect):
                yield frame
                expect = next(wanted, None)
        codec.flush_buffers()
    if expect is not None:
        raise PlanMismatch(f"frame at pts {expect} never came out of the decoder")


def _drain_packet(time_base: Fraction) -> Any:
    """An empty packet: asks the decoder for every frame it holds. Unlike ``decode(None)`` it
    carries the time base, so the drained frames get their times."""
    import av

    packet = av.Packet()
    packet.time_base = time_base
    return packet


class _SpanState:
    """Checks on the frames one span outputs; says which of them to keep."""

    def __init__(self, index: PacketIndex, start: int) -> None:
        self.index, self.start = index, start
        self.last: int | None = None

    def check(self, frame: Any, expect: int | None) -> bool:
        pts = frame.pts
        if pts is None:
            raise PlanMismatch("a decoded frame has no timestamp")
        if self.last is None and not self.index.discard[self.start]:
            if pts != self.index.pts[self.start]:
                raise PlanMismatch("the span did not start with its entry frame")
            if self.start and not frame.key_frame:
                raise PlanMismatch("the entry packet is not a key frame")
        if self.last is not None and pts <= self.last:
            raise PlanMismatch("frames came out of order")
        self.last = pts
        if expect is not None and pts > expect:
            raise PlanMismatch(f"frame at pts {expect} was skipped by the decoder")
        return pts == expect


def to_image(frame: Any, sar: Fraction, rotation: int, max_side: int | None,
             reformatter: Any = None) -> Image.Image:
    """Convert one frame to an upright RGB image at display aspect, scaled in one step.

    Pass one ``av.video.reformatter.VideoReformatter`` for a run of frames: it keeps its scaler
    context. Scaling runs on one thread: the decoder already has the other cores, and a thread
    pool per frame cost more than the conversion itself (same pixels either way).
    """
    from av.video.reformatter import VideoReformatter

    reformatter = reformatter or VideoReformatter()
    disp_w, disp_h = display_size(frame.width, frame.height, sar, 0)
    scale = 1.0
    if max_side and max(disp_w, disp_h) > max_side:
        scale = max_side / max(disp_w, disp_h)
    out_w = max(2, round(disp_w * scale))
    out_h = max(2, round(disp_h * scale))
    if (out_w, out_h) == (frame.width, frame.height):
        rgb = reformatter.reformat(frame, format="rgb24", threads=1)
    else:
        rgb = reformatter.reformat(frame, width=out_w, height=out_h, format="rgb24",
                                   interpolation="AREA", threads=1)
    plane = rgb.planes[0]
    # One copy straight from the plane (VideoFrame.to_image copies it three times).
    image = Image.frombuffer("RGB", (rgb.width, rgb.height), plane, "raw", "RGB",
                             plane.line_size, 1)
    if rotation in _TRANSPOSE:
        image = image.transpose(_TRANSPOSE[rotation])
    return image
