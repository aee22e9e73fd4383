"""The pipeline's media work, each piece run in a watched child process (see ``isolation``).

``probe_file``, ``frames_of`` and ``audio_chunks`` give what ``probe``, frame selection and
``iter_audio`` give in-process, the same values bit for bit, but a file that hangs or crashes
FFmpeg becomes a ``DecodeError`` for that file. The ``*_job`` functions are their halves that
run in the child.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..limits import Limits
from . import isolation
from .audio import WHISPER_SAMPLE_RATE, AudioClip

if TYPE_CHECKING:
    from .frames import Frame
    from .probe import MediaInfo
    from .selection import FrameChoice

# Audio comes from the child in pieces of this many seconds (each one is progress for the
# watchdog) and is joined into the chunks the transcriber asks for.
PIECE_S = 10.0
_JOBS = "summarize_video.media.jobs"


def probe_file(path: str | Path, limits: Limits | None, timeout: float | None) -> MediaInfo:
    """``probe(path, limits)`` in a child process."""
    (info,) = list(isolation.run(f"{_JOBS}:probe_job", (str(path), limits), path=str(path),
                                 stage="probe", timeout=timeout))
    return info  # type: ignore[no-any-return]


def frames_of(path: str | Path, duration: float | None, choice: FrameChoice,
              counts: dict[str, int], timeout: float | None) -> Iterator[Frame]:
    """The frames to caption (``selection.choose_frames``) from a child process; ``counts``
    gets decoded, sampled, kept and dropped once they are all out."""
    from PIL import Image

    from .frames import Frame

    run = isolation.run(f"{_JOBS}:frames_job", (str(path), duration, choice), path=str(path),
                        stage="sample", timeout=timeout)
    while True:
        try:
            t, until, size, data = next(run)
        except StopIteration as end:
            counts.update(end.value or {})
            return
        yield Frame(t=t, image=Image.frombytes("RGB", size, data), until=until)


def audio_chunks(path: str | Path, chunk_s: float, timeout: float | None,
                 sample_rate: int = WHISPER_SAMPLE_RATE) -> Iterator[AudioClip]:
    """``iter_audio(path, chunk_s=chunk_s)``, decoded in a child process."""
    pieces = isolation.run(f"{_JOBS}:audio_job", (str(path), sample_rate), path=str(path),
                           stage="audio", timeout=timeout)
    return rechunk(pieces, max(1, round(chunk_s * sample_rate)), sample_rate)


def whole_audio(path: str | Path, timeout: float | None,
                sample_rate: int = WHISPER_SAMPLE_RATE) -> AudioClip:
    """``load_audio(path)``, decoded in a child process."""
    pieces = list(isolation.run(f"{_JOBS}:audio_job", (str(path), sample_rate),
                                path=str(path), stage="audio", timeout=timeout))
    if not pieces:
        return AudioClip.empty(sample_rate)
    samples = np.concatenate([p.samples for p in pieces]) if len(pieces) > 1 else \
        pieces[0].samples
    return AudioClip(samples=samples, sample_rate=sample_rate, offset=pieces[0].offset)


def rechunk(pieces: Iterator[AudioClip], chunk_n: int, rate: int) -> Iterator[AudioClip]:
    """Consecutive clips of ``chunk_n`` samples (the last shorter) from consecutive pieces,
    placed on the timeline as ``iter_audio`` places them."""
    buffer = np.empty(0, dtype=np.float32)
    filled = done = 0
    base: float | None = None
    for piece in pieces:
        if base is None:
            base = piece.offset
        samples, used = piece.samples, 0
        while used < samples.size:
            if filled == buffer.size:
                if filled:
                    yield AudioClip(buffer, rate, base + done / rate)
                    done += filled
                buffer, filled = np.empty(chunk_n, dtype=np.float32), 0
            take = min(samples.size - used, buffer.size - filled)
            buffer[filled:filled + take] = samples[used:used + take]
            filled += take
            used += take
    if filled and base is not None:
        if filled < buffer.size:
            buffer.resize(filled, refcheck=False)
        yield AudioClip(buffer, rate, base + done / rate)


# --- in the child ---------------------------------------------------------------------------


def probe_job(progress: isolation.Progress, path: str, limits: Limits | None
              ) -> Iterator[MediaInfo]:
    from .probe import probe

    yield probe(path, limits)


def frames_job(progress: isolation.Progress, path: str, duration: float | None,
               choice: FrameChoice
               ) -> Iterator[tuple[float, float | None, tuple[int, int], bytes]]:
    from .selection import choose_frames

    counts: dict[str, int] = {}
    live: dict[str, Any] = {}
    progress.watch(lambda: _live_count(live))
    for frame in choose_frames(path, duration, choice, counts, live=live):
        image = frame.image if frame.image.mode == "RGB" else frame.image.convert("RGB")
        yield frame.t, frame.until, image.size, image.tobytes()
    progress.result = counts


def _live_count(live: dict[str, Any]) -> int:
    sampling = live.get("sampling")
    scene = live.get("scene", {})
    total = scene.get("decoded", 0) + scene.get("kept", 0)
    if sampling is not None:
        total += sampling.decoded + sampling.scanned + sampling.kept
    return int(total)


def audio_job(progress: isolation.Progress, path: str, sample_rate: int
              ) -> Iterator[AudioClip]:
    from .audio import iter_audio

    yield from iter_audio(path, chunk_s=PIECE_S, sample_rate=sample_rate)
