"""The captions and the transcript of a file, from the cache when the same settings made them
before, else made and stored (the screen text's step is ``screen.screen_step``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ..captioning.base import Captioner
from ..media.probe import MediaInfo
from ..options import Options
from ..timeline import Caption
from ..transcription.base import Transcriber, Transcript
from .cache import Cache
from .concurrency import torch_threads
from .fingerprint import caption_key, transcript_key
from .stages import (
    ProgressCallback,
    Staged,
    captions_from_json,
    captions_to_json,
    run_captions,
    run_transcript,
    transcript_from_json,
    transcript_to_json,
)


def caption_step(path: str | Path, info: MediaInfo, o: Options, captioner: Captioner,
                 prompts: tuple[str, str], cache: Cache | None, file_hash: str,
                 progress: ProgressCallback, transcript: Transcript | None = None,
                 threads: Callable[[], int] | None = None) -> Staged[list[Caption]]:
    """The captions (``prompts``: the caption prompt and the speech-context one), conditioned
    on ``transcript`` when given, made with the torch threads ``threads()`` says."""
    params = caption_key(o, captioner, *prompts,
                         transcript_to_json(transcript) if transcript is not None else None)
    if cache is not None:
        hit = cache.get("captions", file_hash, params)
        if hit is not None and o.thumbnails and "html" in o.formats and hit["captions"] \
                and not any(row[3:] and row[3] for row in hit["captions"]):
            hit = None  # cached before thumbnails: the HTML report wants them, recompute
        if hit is not None:
            captions, stored = captions_from_json(hit)
            return Staged(captions, counts=stored, cache="hit")
    made = run_captions(path, info, o, captioner, progress, transcript, threads)
    if cache is None:
        return made
    cache.put("captions", file_hash, params, captions_to_json(made.value, made.counts))
    return replace(made, cache="miss")


def transcript_step(path: str | Path, o: Options, transcriber: Transcriber,
                    cache: Cache | None, file_hash: str, progress: ProgressCallback,
                    threads: int = 0) -> Staged[Transcript]:
    """The transcript, made with ``threads`` torch threads in this thread (0: as they are;
    faster-whisper took its share when it was built)."""
    if threads:
        with torch_threads(threads):
            return _transcript(path, o, transcriber, cache, file_hash, progress)
    return _transcript(path, o, transcriber, cache, file_hash, progress)


def _transcript(path: str | Path, o: Options, transcriber: Transcriber, cache: Cache | None,
                file_hash: str, progress: ProgressCallback) -> Staged[Transcript]:
    params = transcript_key(o, transcriber)
    if cache is not None:
        hit = cache.get("transcript", file_hash, params)
        if hit is not None:
            return Staged(transcript_from_json(hit), cache="hit")
    made = run_transcript(path, transcriber, progress, o.decode_timeout or None)
    if cache is None:
        return made
    cache.put("transcript", file_hash, params, transcript_to_json(made.value))
    return replace(made, cache="miss")
