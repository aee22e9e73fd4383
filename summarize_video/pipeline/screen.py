"""The screen-text stage: text read on the sampled frames, tracked into spans, and its cache
form.

It decodes the same frames as captioning (same sampling and near-duplicate dropping, so the
same kept frames) in its own pass, and runs beside captioning in its own thread: its cache
entry is its own, so turning ``--ocr`` on later reuses the cached captions.
"""

from __future__ import annotations

import time
from dataclasses import replace
from itertools import islice
from pathlib import Path
from typing import Any

from ..media.probe import MediaInfo
from ..ocr.base import ScreenReader, TextBlock
from ..ocr.spans import track
from ..options import Options
from ..timeline import ScreenText
from .cache import Cache
from .concurrency import prefetch
from .fingerprint import screen_key
from .stages import ProgressCallback, Staged, select_frames

# Frames read per call.
READ_BATCH = 4
STAGE = "screen_text"


def screen_to_json(spans: list[ScreenText], counts: dict[str, int]) -> dict[str, Any]:
    return {"spans": [[s.t, s.until, s.text] for s in spans], "frames": counts}


def screen_from_json(value: dict[str, Any]) -> tuple[list[ScreenText], dict[str, int]]:
    return [ScreenText(row[0], row[1], row[2]) for row in value["spans"]], value["frames"]


def run_screen_text(path: str | Path, info: MediaInfo, o: Options, reader: ScreenReader,
                    progress: ProgressCallback) -> Staged[list[ScreenText]]:
    """Sample the frames captioning would keep and read them: timings ``read_sample`` and
    ``read``, counts ``read`` (frames read) and ``with_text`` (frames with a kept block)."""
    counts: dict[str, int] = {}
    frames = prefetch(select_frames(path, info, o, counts), size=2 * READ_BATCH)
    seen: list[tuple[float, float | None, list[TextBlock]]] = []
    waited = reading = 0.0
    while True:
        t0 = time.perf_counter()
        batch = list(islice(frames, READ_BATCH))
        waited += time.perf_counter() - t0
        if not batch:
            break
        t0 = time.perf_counter()
        blocks = reader.read(batch)
        reading += time.perf_counter() - t0
        seen += [(f.t, f.until, b) for f, b in zip(batch, blocks, strict=True)]
    made = {"read": len(seen), "with_text": sum(1 for _, _, b in seen if b)}
    progress("read", 1, 1)
    return Staged(track(seen), {"read_sample": waited, "read": reading}, made)


def screen_step(path: str | Path, info: MediaInfo, o: Options, reader: ScreenReader,
                cache: Cache | None, file_hash: str, progress: ProgressCallback
                ) -> Staged[list[ScreenText]]:
    """The text on screen, from the cache when the same frames were read by the same reader."""
    params = screen_key(o, reader)
    if cache is not None:
        hit = cache.get(STAGE, file_hash, params)
        if hit is not None:
            spans, counts = screen_from_json(hit)
            return Staged(spans, counts=counts, cache="hit")
    made = run_screen_text(path, info, o, reader, progress)
    if cache is None:
        return made
    cache.put(STAGE, file_hash, params, screen_to_json(made.value, made.counts))
    return replace(made, cache="miss")
