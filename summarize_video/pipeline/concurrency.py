"""Run a producer ahead of its consumer (a bounded queue filled by a background thread), and
share the CPU threads between the two model stages that run side by side.

Captioning and transcription both want every core; run together with that many threads each,
they contend (and OpenMP threads spin). ``split_threads`` gives each a share in proportion to
its expected work; captioning takes every core once the transcript is done. The screen reader
(beside captioning) gets a small share of its own. A captioner that can caption batches from
several threads at once gets its threads as lanes (``lane_threads``): on two cores two batches
on one thread each run 1.2x faster than one batch on two threads (the decoder's small matrix
products gain little from a second thread).
"""

from __future__ import annotations

import importlib.util
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


def prefetch(items: Iterator[T], size: int) -> Iterator[T]:
    """Yield ``items`` while a thread computes up to ``size`` of them ahead.

    Exceptions from the producer are raised in the consumer at the point they happened. If the
    consumer stops early (or is closed), the producer is told to stop and its generator closed.
    """
    q: queue.Queue[object] = queue.Queue(maxsize=max(1, size))
    stop = threading.Event()

    def put(item: object) -> bool:
        """Queue ``item`` unless the consumer has stopped; False once it has."""
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    break
            put(_DONE)
        except BaseException as exc:  # handed to the consumer
            put(exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join(timeout=5)


# --- CPU threads shared by the overlapped stages -------------------------------------------------

# CPU core-seconds each backend spends, measured on one core of a 2-core machine with the
# default models: per captioned frame (SmolVLM-256M, ~30 new tokens; onnx at int8 ~0.85-1.0:
# benchmarks/captioning.py), and per second of audio (whisper base; faster-whisper at int8
# took 42 core-s for the 10-minute talk of benchmarks/pipeline.py --real-size).
# A backend may say its own with a ``cpu_cost`` attribute.
CAPTION_CORE_S_PER_FRAME: dict[str, float] = {"transformers": 3.0, "onnx": 1.0}
TRANSCRIBE_CORE_S_PER_AUDIO_S: dict[str, float] = {"faster-whisper": 0.07, "whisper": 1.2}
# Seconds between frames assumed for scene sampling (shots of a talk or a film).
SCENE_FRAME_EVERY_S = 8.0
# The screen reader's threads per captioning thread: it does about a third of captioning's
# work per frame (PP-OCR small: 0.29 core-s per frame with text; captioning ~0.9 at int8).
READ_PER_CAPTION_THREAD = 1 / 3
# Batches captioned at once, at most (each lane holds its own runtime: ~0.3 GB).
MAX_CAPTION_LANES = 2


@dataclass(frozen=True)
class ThreadSplit:
    """CPU threads per stage: ``caption`` and ``transcribe`` while both run, all ``cores``
    for captioning once the transcript is done (or when only one stage runs); ``read`` for
    the screen reader, which runs beside them."""

    cores: int
    caption: int
    transcribe: int
    read: int = 1

    def record(self) -> dict[str, int]:
        """The split as provenance records it."""
        return {"cores": self.cores, "caption": self.caption, "transcribe": self.transcribe,
                "caption_alone": self.cores, "read": self.read}


def import_first(*stages: object) -> None:
    """Import in this thread what each stage's backend imports when it loads (its ``modules``),
    before the stages start in threads of their own: heavy extension modules (torch,
    onnxruntime, OpenVINO, CTranslate2) are then never first imported by two threads at once,
    nor by another thread while a stop signal interrupts this one's import. A module that
    cannot be imported is left to the backend, which reports it when it loads."""
    import importlib

    for stage in stages:
        for name in getattr(stage, "modules", ()):
            try:
                importlib.import_module(name)
            except Exception:  # reported by the backend's own load
                continue


def split_threads(cores: int, caption_work: float, transcribe_work: float) -> ThreadSplit:
    """Split ``cores`` in proportion to each stage's expected CPU work (any unit), each stage
    at least one thread; one core is shared (1 and 1). The screen reader gets a third of
    captioning's share, at least one thread (it runs on one thread more than the cores on
    up to four cores: it is small, and its thread never spins while waiting)."""
    cores = max(1, int(cores))
    if cores == 1:
        return ThreadSplit(1, 1, 1, 1)
    total = caption_work + transcribe_work
    share = transcribe_work / total if total > 0 else 0.5
    transcribe = min(cores - 1, max(1, round(cores * share)))
    caption = cores - transcribe
    return ThreadSplit(cores, caption, transcribe,
                       max(1, int(caption * READ_PER_CAPTION_THREAD)))


def lane_threads(threads: int, lanes: int = MAX_CAPTION_LANES) -> list[int]:
    """``threads`` shared by at most ``lanes`` lanes, one thread each at least (the first
    lanes take what does not divide): ``lane_threads(2) == [1, 1]``, ``(5) == [3, 2]``,
    ``(1) == [1]``."""
    threads = max(1, int(threads))
    count = max(1, min(int(lanes), threads))
    return [threads // count + (1 if k < threads % count else 0) for k in range(count)]


def expected_work(captioner: object, caption_name: str, transcriber: object,
                  transcribe_name: str, frame_every_s: float) -> tuple[float, float]:
    """CPU core-seconds per second of media: captioning (a frame every ``frame_every_s``) and
    transcription, from the backends' ``cpu_cost`` or the table above."""
    per_frame = getattr(captioner, "cpu_cost", None) or CAPTION_CORE_S_PER_FRAME.get(
        caption_name, 3.0)
    engine = getattr(transcriber, "backend", transcriber)
    per_audio_s = getattr(engine, "cpu_cost", None) or TRANSCRIBE_CORE_S_PER_AUDIO_S.get(
        transcribe_name, 0.5)
    return float(per_frame) / max(frame_every_s, 0.1), float(per_audio_s)


def set_torch_threads(n: int) -> int | None:
    """Set torch's intra-op threads for the calling thread (its OpenMP count is per thread;
    new threads start from the last count set) and return the count before; None, and
    nothing done, when torch is not installed."""
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    before = int(torch.get_num_threads())
    if n >= 1 and n != before:
        torch.set_num_threads(n)
    return before


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """``set_torch_threads(n)`` for the block, the count before restored after it."""
    before = set_torch_threads(n)
    try:
        yield
    finally:
        if before is not None:
            set_torch_threads(before)
