"""Audio decoding with PyAV: the default audio stream as 16 kHz mono float32 (no ffmpeg binary).

whisper's own ``load_audio`` shells out to an ``ffmpeg`` executable that many machines lack;
PyAV links the same libraries and decodes a 60 s clip in well under a second.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from ..errors import DecodeError, InputError

log = logging.getLogger(__name__)

WHISPER_SAMPLE_RATE = 16000
STAGE = "audio"
# A jump forward in audio timestamps longer than this is filled with silence so that later
# speech keeps its place on the timeline (ffmpeg's aresample ``min_hard_comp`` default).
GAP_FILL_MIN = 0.1
# Longer jumps are taken as broken timestamps: not filled, only logged.
GAP_FILL_MAX = 3600.0
# Default length of the pieces ``iter_audio`` yields: 5 minutes of 16 kHz float32 is 18 MiB.
DEFAULT_CHUNK_S = 300.0
# ``load_audio`` allocates the track's declared duration at once when it is at most this long
# (12 h: 2.6 GiB at 16 kHz); longer or unknown durations grow piece by piece.
ESTIMATE_MAX = 12 * 3600.0
_HINT = "the file may be corrupt or use a codec this PyAV build lacks; try re-encoding it"


@dataclass(frozen=True, eq=False)  # eq=False: numpy arrays do not compare to one bool
class AudioClip:
    # Mono float32 samples in [-1, 1] (a downmix may exceed it slightly); empty when no audio.
    samples: np.ndarray = field(repr=False)
    # Samples per second of ``samples``.
    sample_rate: int = WHISPER_SAMPLE_RATE
    # Seconds from the container's start time to the first audio sample; add it to times
    # measured in ``samples`` to place them on the video's timeline (0.0 when unknown).
    offset: float = 0.0

    @property
    def duration(self) -> float:
        """Length of ``samples`` in seconds."""
        return len(self.samples) / self.sample_rate if self.sample_rate else 0.0

    @property
    def is_empty(self) -> bool:
        return len(self.samples) == 0

    @classmethod
    def empty(cls, sample_rate: int = WHISPER_SAMPLE_RATE) -> AudioClip:
        return cls(np.zeros(0, dtype=np.float32), sample_rate, 0.0)


class _Converter:
    """An ``av.AudioResampler`` to mono float at one rate, rebuilt if the input format changes.

    PyAV's resampler takes its input settings from the first frame and raises ``ValueError``
    on any later frame with another layout, format or rate (it happens in broadcast captures).
    ``push`` and ``flush`` give the converted samples as arrays that are only valid until the
    next call (the frames' buffers are reused): copy them before asking for more.
    """

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._resampler: av.AudioResampler | None = None
        self._key: tuple[str, str, int] | None = None

    def push(self, frame: av.AudioFrame) -> Iterator[np.ndarray]:
        key = (frame.format.name, frame.layout.name, frame.sample_rate)
        if self._resampler is None or key != self._key:
            if self._resampler is not None:
                log.debug("audio format changed mid-stream to %s; new resampler", key)
                yield from self.flush()
            self._resampler = av.AudioResampler(format="flt", layout="mono", rate=self.rate)
            self._key = key
        yield from _arrays(self._resampler.resample(frame))

    def flush(self) -> Iterator[np.ndarray]:
        if self._resampler is not None:
            resampler, self._resampler = self._resampler, None
            yield from _arrays(resampler.resample(None))


def _arrays(frames: list[av.AudioFrame]) -> Iterator[np.ndarray]:
    for out in frames:
        # Packed "flt" mono: one plane, shape (1, n).
        array = out.to_ndarray().reshape(-1)
        if array.size:
            yield np.asarray(array, dtype=np.float32)


def _check_path(path: Path) -> None:
    if not path.exists():
        raise InputError("file not found", path=str(path), stage=STAGE,
                         hint="check the path and its spelling")
    if not path.is_file():
        raise InputError("not a regular file", path=str(path), stage=STAGE,
                         hint="give a video or audio file, not a folder")


def _frame_time(frame: av.AudioFrame) -> float | None:
    if frame.pts is not None and frame.time_base is not None:
        return float(frame.pts * frame.time_base)
    return None


def _open(name: str) -> av.container.InputContainer:
    from .safe_open import open_container

    return open_container(name, stage=STAGE, error=DecodeError)


class _Decoder:
    """One pass over an audio stream: converted samples and filled gaps, in timeline order.

    ``pieces`` yields arrays of samples (valid until the next piece is asked for) and ints
    (that many samples of silence filling a gap in the timestamps). ``offset`` is known once
    the first piece is out; ``finish`` logs what went wrong or raises when nothing decoded.
    """

    def __init__(self, container: av.container.InputContainer,
                 stream: av.audio.stream.AudioStream, name: str, rate: int) -> None:
        self.container, self.stream, self.name, self.rate = container, stream, name, rate
        self.offset = 0.0
        self.filled = 0.0  # seconds of gaps filled with silence
        self.bad_packets = 0
        self.first_error: Exception | None = None

    def pieces(self) -> Iterator[np.ndarray | int]:
        container, stream = self.container, self.stream
        start = container.start_time / av.time_base if container.start_time is not None else 0.0
        converter = _Converter(self.rate)
        seen_frame = False
        expected: float | None = None  # stream time where the next frame should start
        try:
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except (av.FFmpegError, ValueError) as exc:  # one corrupt packet: skip it
                    self.bad_packets += 1
                    self.first_error = self.first_error or exc
                    continue
                for frame in frames:
                    t = _frame_time(frame)
                    if not seen_frame:
                        seen_frame = True
                        first = t
                        if first is None and stream.start_time is not None:
                            first = float(stream.start_time * stream.time_base)
                        if first is not None:
                            self.offset = max(0.0, round(first - start, 6))
                    elif t is not None and expected is not None:
                        gap = t - expected
                        if GAP_FILL_MIN < gap <= GAP_FILL_MAX:
                            yield from converter.flush()
                            yield round(gap * self.rate)
                            self.filled += gap
                        elif gap > GAP_FILL_MAX:
                            log.warning("%s: audio timestamps jump by %.0f s; not filled",
                                        self.name, gap)
                    yield from converter.push(frame)
                    if t is not None and frame.sample_rate:
                        expected = t + frame.samples / frame.sample_rate
                    elif expected is not None and frame.sample_rate:
                        expected += frame.samples / frame.sample_rate
            yield from converter.flush()
        except (av.FFmpegError, ValueError, OSError) as exc:  # demuxing stopped early
            self.first_error = self.first_error or exc
            self.bad_packets += 1
            flushed: list[np.ndarray] = []
            with contextlib.suppress(av.FFmpegError, ValueError):
                flushed = [np.array(a) for a in converter.flush()]
            yield from flushed

    def finish(self, samples: int) -> None:
        """After the last piece: log the gaps and errors; DecodeError if no audio came out."""
        if self.filled:
            log.info("%s: filled %.2f s of gaps in the audio timestamps with silence",
                     self.name, self.filled)
        if self.first_error is None:
            return
        if not samples:
            raise DecodeError(
                f"no audio could be decoded ({_codec_name(self.stream)}): "
                f"{_reason(self.first_error)}",
                path=self.name, stage=STAGE, hint=_HINT,
            ) from self.first_error
        log.warning(
            "%s: audio: %d decoding error(s), kept %.1f s of audio (first error: %s)",
            self.name, self.bad_packets, samples / self.rate, _reason(self.first_error),
        )


def _estimated_samples(container: av.container.InputContainer,
                       stream: av.audio.stream.AudioStream, rate: int) -> int:
    """Samples to allocate for the whole track: its declared duration and a margin."""
    seconds = 0.0
    if stream.duration is not None and stream.time_base is not None:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        seconds = container.duration / av.time_base
    if not 0.0 < seconds <= ESTIMATE_MAX:  # unknown or implausible: grow chunk by chunk
        return round(DEFAULT_CHUNK_S * rate)
    return round((seconds * 1.02 + 2.0) * rate)


def iter_audio(path: str | Path, *, chunk_s: float = DEFAULT_CHUNK_S,
               sample_rate: int = WHISPER_SAMPLE_RATE) -> Iterator[AudioClip]:
    """The audio of ``path`` as consecutive clips of ``chunk_s`` seconds (the last shorter).

    The samples are those of ``load_audio`` (same downmix, resampling and gap filling), cut
    into pieces: each clip's ``offset`` places it on the video's timeline, and concatenating
    the clips gives ``load_audio(path).samples``. Only the clip being filled is held, so memory
    does not grow with the file's length. A file without audio yields nothing. The path is
    checked at once (``InputError``); the file is opened, and ``DecodeError`` raised, while
    iterating.
    """
    if not chunk_s > 0:
        raise ValueError(f"chunk_s must be positive, got {chunk_s}")
    path = Path(path)
    _check_path(path)
    return _chunks(str(path), sample_rate, max(1, round(chunk_s * sample_rate)))


def load_audio(path: str | Path, sample_rate: int = WHISPER_SAMPLE_RATE) -> AudioClip:
    """Decode the default audio stream of ``path`` to mono float32 at ``sample_rate``.

    A file without an audio stream gives an empty clip. A missing file raises ``InputError``;
    a file that cannot be opened or yields no decodable audio raises ``DecodeError``. Errors
    after some audio was decoded keep that audio and log a warning. The samples are written
    into one array sized from the stream's declared duration (``iter_audio`` gives the same
    audio in bounded pieces).
    """
    path = Path(path)
    _check_path(path)
    clips = list(_chunks(str(path), sample_rate, None))
    if not clips:
        return AudioClip.empty(sample_rate)
    if len(clips) == 1:
        return clips[0]
    samples = np.concatenate([c.samples for c in clips])  # the duration was underestimated
    return AudioClip(samples=samples, sample_rate=sample_rate, offset=clips[0].offset)


def _chunks(name: str, rate: int, chunk_n: int | None) -> Iterator[AudioClip]:
    """Clips of ``chunk_n`` samples (``None``: the estimated length of the whole track)."""
    with _open(name) as container:
        stream = container.streams.best("audio")
        if stream is None:
            log.info("%s: no audio stream", name)
            return
        size = chunk_n or _estimated_samples(container, stream, rate)
        decoder = _Decoder(container, stream, name, rate)
        buffer = np.empty(0, dtype=np.float32)
        filled = done = 0  # samples in ``buffer``; samples in the clips yielded before it
        for piece in decoder.pieces():
            count = piece if isinstance(piece, int) else piece.size
            used = 0
            while used < count:
                if filled == buffer.size:
                    if filled:
                        yield AudioClip(buffer, rate, decoder.offset + done / rate)
                        done += filled
                    # Not zeros: pages are only touched when written.
                    buffer, filled = np.empty(size, dtype=np.float32), 0
                take = min(count - used, buffer.size - filled)
                if isinstance(piece, int):
                    buffer[filled:filled + take] = 0.0
                else:
                    buffer[filled:filled + take] = piece[used:used + take]
                filled += take
                used += take
        decoder.finish(done + filled)
        if filled:
            if filled < buffer.size:  # shrink in place: no second copy of the samples
                buffer.resize(filled, refcheck=False)
            yield AudioClip(buffer, rate, decoder.offset + done / rate)


def _codec_name(stream: av.audio.stream.AudioStream) -> str:
    context = stream.codec_context
    return context.name if context is not None else "unknown codec"


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())
