"""The two model stages, captions and transcript: computing them, and their cache form.

Each stage returns what it made with its timings and counts (``Staged``), and has a JSON form
(what the cache stores); its cache key is ``fingerprint``'s. The pipeline decides whether to
compute or reuse.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Generic, TypeVar

from PIL import Image

from ..captioning.base import Captioner
from ..captioning.speech_context import speech_context
from ..media.frames import Frame
from ..media.jobs import frames_of
from ..media.probe import MediaInfo
from ..media.selection import FrameChoice
from ..options import DEFAULT_DECODE_TIMEOUT, Options
from ..timeline import Caption
from ..transcription.base import Segment, Transcriber, Transcript
from .concurrency import (
    MAX_CAPTION_LANES,
    lane_threads,
    prefetch,
    set_torch_threads,
    torch_threads,
)

ProgressCallback = Callable[[str, int, "int | None"], None]
T = TypeVar("T")


@dataclass(frozen=True)
class Staged(Generic[T]):
    """What a stage made, and how: its seconds per step, its counts, and the cache's part."""

    value: T
    # Seconds per step ("sample", "caption"; "audio", "transcribe").
    timings: dict[str, float] = field(default_factory=dict)
    # Frames decoded, sampled, kept and dropped (captions only).
    counts: dict[str, int] = field(default_factory=dict)
    # "hit" (reused), "miss" (made and stored), or None without a cache.
    cache: str | None = None
# Longest side, in pixels, of the frame thumbnails kept for the HTML report.
THUMBNAIL_SIDE = 160


# --- captions ---------------------------------------------------------------------------------


def captions_to_json(captions: Sequence[Caption], counts: dict[str, int]) -> dict[str, Any]:
    rows = [[c.t, c.until, c.text, c.thumbnail] for c in captions]
    return {"captions": rows, "frames": counts}


def captions_from_json(value: dict[str, Any]) -> tuple[list[Caption], dict[str, int]]:
    """Rows are ``[t, until, text, thumbnail]``; older caches have no thumbnail."""
    captions = [Caption(row[0], row[2], row[1], row[3] if len(row) > 3 else None)
                for row in value["captions"]]
    return captions, value["frames"]


def thumbnail(image: Image.Image, size: int = THUMBNAIL_SIDE, quality: int = 70) -> str:
    """A small JPEG of ``image`` (longest side ``size``), base64-encoded."""
    small = image.copy()
    small.thumbnail((size, size))
    if small.mode != "RGB":
        small = small.convert("RGB")
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=quality, optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def select_frames(path: str | Path, info: MediaInfo, o: Options, counts: dict[str, int]
                  ) -> Iterator[Frame]:
    """Frames to caption (see ``media.selection.choose_frames``), decoded in a child process
    under the ``o.decode_timeout`` watchdog. ``counts`` is filled once the frames are
    consumed."""
    return frames_of(path, info.duration_s, FrameChoice.from_options(o), counts,
                     o.decode_timeout or None)


def run_captions(path: str | Path, info: MediaInfo, o: Options, captioner: Captioner,
                 progress: ProgressCallback, transcript: Transcript | None = None,
                 threads: Callable[[], int] | None = None) -> Staged[list[Caption]]:
    """Sample, drop near-duplicates and caption, with sampling running ahead in a thread.
    ``threads``: the torch threads captioning may use now, asked before each batch (the
    count before is restored at the end)."""
    before = set_torch_threads(threads()) if threads is not None else None
    try:
        return _run_captions(path, info, o, captioner, progress, transcript, threads)
    finally:
        if before is not None:
            set_torch_threads(before)


def _run_captions(path: str | Path, info: MediaInfo, o: Options, captioner: Captioner,
                  progress: ProgressCallback, transcript: Transcript | None,
                  threads: Callable[[], int] | None) -> Staged[list[Caption]]:
    counts: dict[str, int] = {}
    total = int(info.duration_s + 0.999) if info.duration_s else None
    frames = prefetch(select_frames(path, info, o, counts), size=4 * o.caption_batch_size)
    captions: list[Caption] = []
    waited = captioning = 0.0
    progress("caption", 0, total)
    with ThreadPoolExecutor(max_workers=MAX_CAPTION_LANES,
                            thread_name_prefix="caption-lane") as lanes:
        while True:
            now = threads() if threads is not None else 0
            # The first batch alone (the model loads on it), then one batch per lane.
            shares = lane_threads(now) if captions and _concurrent(captioner) else [now]
            t0 = time.perf_counter()
            batches = [b for b in (_take(frames, o.caption_batch_size) for _ in shares) if b]
            waited += time.perf_counter() - t0
            if not batches:
                break
            t0 = time.perf_counter()
            texts = _caption_batches(captioner, batches, transcript, shares, lanes)
            captioning += time.perf_counter() - t0
            # Thumbnails are always made (a few ms a frame) and cached, so a later run that
            # wants them finds them; Options.thumbnails decides whether the result carries them.
            captions += [Caption(f.t, text, f.until, thumbnail(f.image))
                         for batch, said in zip(batches, texts, strict=True)
                         for f, text in zip(batch, said, strict=True)]
            progress("caption", min(int(batches[-1][-1].t), total or 0), total)
    progress("caption", total or 0, total)
    return Staged(captions, {"sample": waited, "caption": captioning}, counts)


def _concurrent(captioner: Captioner) -> bool:
    """Whether ``captioner`` may caption batches from several threads at once."""
    return bool(getattr(captioner, "concurrent_batches", False))


def _caption_batches(captioner: Captioner, batches: list[list[Frame]],
                     transcript: Transcript | None, shares: list[int],
                     lanes: ThreadPoolExecutor) -> list[list[str]]:
    """Captions of each batch: one batch in this thread with ``shares[0]`` torch threads
    (0: as they are), several at once in ``lanes``, batch ``k`` with ``shares[k]`` threads. A
    lone last batch keeps its lane's threads: new sessions for one batch cost more than the
    threads they would add."""
    if len(batches) == 1:
        if shares[0]:
            set_torch_threads(shares[0])
        return [_caption_one(captioner, batches[0], transcript)]

    def lane(batch: list[Frame], share: int) -> list[str]:
        with torch_threads(share):
            return _caption_one(captioner, batch, transcript)

    running = [lanes.submit(lane, b, n) for b, n in zip(batches, shares, strict=False)]
    return [r.result() for r in running]


def _caption_one(captioner: Captioner, batch: list[Frame],
                 transcript: Transcript | None) -> list[str]:
    if transcript is not None:
        contexts = [speech_context(f.t, transcript.segments) for f in batch]
        return captioner.caption(batch, contexts=contexts)  # type: ignore[call-arg]
    return captioner.caption(batch)


def _take(items: Iterator[Frame], n: int) -> list[Frame]:
    batch: list[Frame] = []
    for item in items:
        batch.append(item)
        if len(batch) == n:
            break
    return batch


# --- transcript -------------------------------------------------------------------------------


def transcript_to_json(transcript: Transcript) -> dict[str, Any]:
    return asdict(transcript)


def transcript_from_json(value: dict[str, Any]) -> Transcript:
    known = {f.name for f in fields(Transcript)}
    data = {k: v for k, v in value.items() if k in known}
    data["segments"] = tuple(Segment(**s) for s in data.get("segments", []))
    for name, v in data.items():
        if isinstance(v, list):
            data[name] = tuple(v)
    return Transcript(**data)


def run_transcript(path: str | Path, transcriber: Transcriber, progress: ProgressCallback,
                   decode_timeout: float | None = DEFAULT_DECODE_TIMEOUT) -> Staged[Transcript]:
    """Decode and transcribe the audio of ``path``: in bounded pieces when the transcriber
    has ``transcribe_stream`` (decoding then runs between them, its time counted apart).
    Decoding runs in a child process under a watchdog (``decode_timeout`` seconds without
    progress; None: no limit)."""
    from ..media.audio import DEFAULT_CHUNK_S
    from ..media.jobs import audio_chunks, whole_audio

    progress("transcribe", 0, None)  # in seconds of audio, as they are handed to the model
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    stream = getattr(transcriber, "transcribe_stream", None)
    heard = [0.0]
    if stream is None:
        audio = whole_audio(path, decode_timeout)
        heard[0] = audio.duration
        timings["audio"] = time.perf_counter() - t0
        progress("transcribe", 0, round(heard[0]))
        t0 = time.perf_counter()
        transcript = transcriber.transcribe(audio)
        timings["transcribe"] = time.perf_counter() - t0
    else:
        decoding = [0.0]
        chunk_s = getattr(transcriber, "chunk_s", None) or DEFAULT_CHUNK_S
        chunks = _timed(audio_chunks(path, chunk_s, decode_timeout), decoding)
        transcript = stream(_heard(chunks, heard, progress))
        timings["audio"] = decoding[0]
        timings["transcribe"] = time.perf_counter() - t0 - decoding[0]
    progress("transcribe", round(heard[0]), round(heard[0]))
    return Staged(transcript, timings)


def _heard(chunks: Iterable[Any], heard: list[float], progress: ProgressCallback
           ) -> Iterator[Any]:
    """Audio ``chunks`` as they come; the seconds handed on so far reported as progress."""
    for chunk in chunks:
        progress("transcribe", round(heard[0]), None)
        heard[0] += float(getattr(chunk, "duration", 0.0))
        yield chunk


def _timed(items: Iterable[Any], seconds: list[float]) -> Iterator[Any]:
    """``items`` as they come, the time spent producing them added to ``seconds[0]``."""
    it = iter(items)
    while True:
        t0 = time.perf_counter()
        try:
            item = next(it)
        except StopIteration:
            return
        finally:
            seconds[0] += time.perf_counter() - t0
        yield item
