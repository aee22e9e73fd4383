"""Audio decoding with PyAV: the default audio stream as 16 kHz mono float32 (no ffmpeg binary).

whisper's own ``load_audio`` shells out to an ``ffmpeg`` executable that many machines lack;
PyAV links the same libraries and decodes a 60 s clip in well under a second.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from .errors import DecodeError, InputError

log = logging.getLogger(__name__)

WHISPER_SAMPLE_RATE = 16000
STAGE = "audio"
# A jump forward in audio timestamps longer than this is filled with silence so that later
# speech keeps its place on the timeline (ffmpeg's aresample ``min_hard_comp`` default).
GAP_FILL_MIN = 0.1
# Longer jumps are taken as broken timestamps: not filled, only logged.
GAP_FILL_MAX = 3600.0
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
    """

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.chunks: list[np.ndarray] = []
        self._resampler: av.AudioResampler | None = None
        self._key: tuple[str, str, int] | None = None

    def push(self, frame: av.AudioFrame) -> None:
        key = (frame.format.name, frame.layout.name, frame.sample_rate)
        if self._resampler is None or key != self._key:
            if self._resampler is not None:
                log.debug("audio format changed mid-stream to %s; new resampler", key)
                self.flush()
            self._resampler = av.AudioResampler(format="flt", layout="mono", rate=self.rate)
            self._key = key
        self._keep(self._resampler.resample(frame))

    def pad(self, seconds: float) -> None:
        """Append ``seconds`` of silence after what was pushed so far."""
        self.flush()
        self.chunks.append(np.zeros(round(seconds * self.rate), dtype=np.float32))

    def flush(self) -> None:
        if self._resampler is not None:
            self._keep(self._resampler.resample(None))
            self._resampler = None

    def _keep(self, frames: list[av.AudioFrame]) -> None:
        for out in frames:
            # Packed "flt" mono: one plane, shape (1, n). Copy: the frame's buffer is reused.
            array = out.to_ndarray().reshape(-1)
            if array.size:
                self.chunks.append(np.array(array, dtype=np.float32, copy=True))

    def samples(self) -> np.ndarray:
        if not self.chunks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(self.chunks)


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


def load_audio(path: str | Path, sample_rate: int = WHISPER_SAMPLE_RATE) -> AudioClip:
    """Decode the default audio stream of ``path`` to mono float32 at ``sample_rate``.

    A file without an audio stream gives an empty clip. A missing file raises ``InputError``;
    a file that cannot be opened or yields no decodable audio raises ``DecodeError``. Errors
    after some audio was decoded keep that audio and log a warning.
    """
    path = Path(path)
    _check_path(path)
    name = str(path)
    try:
        container = av.open(name, mode="r")
    except PermissionError as exc:
        raise InputError("permission denied", path=name, stage=STAGE,
                         hint="check the file's read permission") from exc
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise DecodeError(f"cannot open the file: {_reason(exc)}", path=name, stage=STAGE,
                          hint="is it a video or audio file? " + _HINT) from exc

    with container:
        stream = container.streams.best("audio")
        if stream is None:
            log.info("%s: no audio stream", name)
            return AudioClip.empty(sample_rate)
        converter = _Converter(sample_rate)
        first: float | None = None
        seen_frame = False
        expected: float | None = None  # stream time where the next frame should start
        filled = 0.0
        bad_packets = 0
        first_error: Exception | None = None
        try:
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except (av.FFmpegError, ValueError) as exc:  # one corrupt packet: skip it
                    bad_packets += 1
                    first_error = first_error or exc
                    continue
                for frame in frames:
                    t = _frame_time(frame)
                    if not seen_frame:
                        seen_frame = True
                        first = t
                        if first is None and stream.start_time is not None:
                            first = float(stream.start_time * stream.time_base)
                    elif t is not None and expected is not None:
                        gap = t - expected
                        if GAP_FILL_MIN < gap <= GAP_FILL_MAX:
                            converter.pad(gap)
                            filled += gap
                        elif gap > GAP_FILL_MAX:
                            log.warning("%s: audio timestamps jump by %.0f s; not filled",
                                        name, gap)
                    converter.push(frame)
                    if t is not None and frame.sample_rate:
                        expected = t + frame.samples / frame.sample_rate
                    elif expected is not None and frame.sample_rate:
                        expected += frame.samples / frame.sample_rate
            converter.flush()
        except (av.FFmpegError, ValueError, OSError) as exc:  # demuxing stopped early
            first_error = first_error or exc
            bad_packets += 1
            with contextlib.suppress(av.FFmpegError, ValueError):
                converter.flush()
        samples = converter.samples()
        container_start = (
            container.start_time / av.time_base if container.start_time is not None else 0.0
        )

    if filled:
        log.info("%s: filled %.2f s of gaps in the audio timestamps with silence", name, filled)
    if first_error is not None:
        if not samples.size:
            raise DecodeError(
                f"no audio could be decoded ({_codec_name(stream)}): "
                f"{_reason(first_error)}",
                path=name, stage=STAGE, hint=_HINT,
            ) from first_error
        log.warning(
            "%s: audio: %d decoding error(s), kept %.1f s of audio (first error: %s)",
            name, bad_packets, samples.size / sample_rate, _reason(first_error),
        )
    offset = 0.0 if first is None else max(0.0, round(first - container_start, 6))
    return AudioClip(samples=samples, sample_rate=sample_rate, offset=offset)


def _codec_name(stream: av.audio.stream.AudioStream) -> str:
    context = stream.codec_context
    return context.name if context is not None else "unknown codec"


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())
