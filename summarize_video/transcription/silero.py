"""Silero VAD v6: a small neural voice-activity detector run through onnxruntime.

The model file ships inside the installed ``faster-whisper`` package
(``faster_whisper/assets/silero_vad_v6.onnx``); it is found on disk, never fetched, and
faster-whisper's own Python code is not imported: onnxruntime and the file are all it needs.

The model reads 16 kHz audio in windows of 512 samples (32 ms), each preceded by the last 64
samples of the window before (zeros before the first), and carries an LSTM state (``h``, ``c``,
1x1x128 each) from window to window; it gives the probability that the window holds speech.
A whole stretch of windows goes in as one batch (the model runs its state through the batch
in order), so an hour of audio is a few hundred calls of 10,000 windows.

Probabilities become regions the way the energy gate's levels do (``silence.regions_from_
frames``): a region opens at a window of at least ``THRESHOLD`` and holds while windows stay
at or above ``NEG_THRESHOLD`` (Silero's own hysteresis: 0.5 and 0.15 below it); pauses
shorter than ``MIN_SILENCE`` are bridged, regions with less than ``MIN_SPEECH`` seconds of
speech windows dropped, the rest padded by ``PAD``.

Measured on the shared media (``benchmarks/vad.py``): on the 28 speech files it keeps 619.6 of
707.8 s (the energy gate 631.7 s) with the same words from whisper; on the music-only files
(Big Buck Bunny, kinetic-text promo) it keeps 0 s where the energy gate keeps 60.4 of 74.6 s;
on the near-silent track both keep nothing. About 13 ms per second of audio on 2 shared cores
(the energy gate: under 0.2 ms).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelLoadError, TranscribeError
from .silence import regions_from_frames

log = logging.getLogger(__name__)

MODEL_FILE = "silero_vad_v6.onnx"
# The package that ships the model, and the folder inside it.
MODEL_PACKAGE = "faster_whisper"
MODEL_FOLDER = "assets"
SAMPLE_RATE = 16000
# Samples per window, and samples of the previous window put in front of each.
WINDOW = 512
CONTEXT = 64
# Windows per onnxruntime call (the state is carried across calls).
BATCH_WINDOWS = 10000
# A window at or above this probability is speech and opens a region ...
THRESHOLD = 0.5
# ... which stays open while windows are at or above this one.
NEG_THRESHOLD = 0.35
# Pauses shorter than this (s) do not split a region (the energy gate's value).
MIN_SILENCE = 1.0
# A region needs at least this many seconds of windows above ``THRESHOLD`` (a cough, a click).
MIN_SPEECH = 0.25
# Seconds added before and after each region, so soft word edges are kept.
PAD = 0.4


def model_path() -> Path | None:
    """Where the installed faster-whisper keeps the Silero VAD model, if it does (found
    without importing faster-whisper)."""
    try:
        spec = importlib.util.find_spec(MODEL_PACKAGE)
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / MODEL_FOLDER / MODEL_FILE
        if path.is_file():
            return path
    return None


def runtime_installed() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


@functools.lru_cache(maxsize=2)
def _session(path: str) -> Any:
    """One onnxruntime session per model file, on one CPU thread (the model is tiny: more
    threads only contend with the speech model beside it)."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise ModelLoadError("the Silero VAD needs onnxruntime, which is not installed",
                             stage="transcribe",
                             hint="pip install onnxruntime, or use --vad energy") from exc
    opts = onnxruntime.SessionOptions()
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 4
    try:
        return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"],
                                            sess_options=opts)
    except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
        raise ModelLoadError(f"cannot load the Silero VAD model {path}: {exc}",
                             stage="transcribe",
                             hint="reinstall faster-whisper, or use --vad energy") from exc


def speech_probabilities(samples: np.ndarray, path: Path) -> np.ndarray:
    """The speech probability of each 512-sample window of 16 kHz ``samples`` (the last
    window zero-padded), from the model at ``path``."""
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    if x.size == 0:
        return np.zeros(0, dtype=np.float32)
    session = _session(str(path))
    windows = np.pad(x, (0, -x.size % WINDOW)).reshape(-1, WINDOW)
    context = np.zeros((windows.shape[0], CONTEXT), dtype=np.float32)
    context[1:] = windows[:-1, -CONTEXT:]
    batched = np.concatenate([context, windows], axis=1)
    h = np.zeros((1, 1, 128), dtype=np.float32)
    c = np.zeros((1, 1, 128), dtype=np.float32)
    out = []
    try:
        for i in range(0, batched.shape[0], BATCH_WINDOWS):
            probs, h, c = session.run(None, {"input": batched[i:i + BATCH_WINDOWS],
                                             "h": h, "c": c})
            out.append(np.asarray(probs, dtype=np.float32).reshape(-1))
    except Exception as exc:  # onnxruntime's errors are untyped
        raise TranscribeError(f"the Silero VAD failed: {exc}", stage="transcribe",
                              hint="use --vad energy") from exc
    return np.concatenate(out)


def silero_regions(samples: np.ndarray, sample_rate: int, path: Path, *,
                   min_silence: float = MIN_SILENCE, pad: float = PAD,
                   min_speech: float = MIN_SPEECH) -> list[tuple[float, float]]:
    """``(start, end)`` seconds of the speech in 16 kHz ``samples``, in order (the same kind
    of regions as ``silence.speech_regions``; precision one window, 32 ms)."""
    if sample_rate != SAMPLE_RATE:
        raise TranscribeError(f"the Silero VAD needs 16000 Hz audio, got {sample_rate} Hz",
                              stage="transcribe")
    probs = speech_probabilities(samples, path)
    if probs.size == 0:
        return []
    duration = np.asarray(samples).size / sample_rate
    return regions_from_frames(probs >= THRESHOLD, probs >= NEG_THRESHOLD, WINDOW / sample_rate,
                               duration, min_silence=min_silence, pad=pad,
                               min_speech=min_speech)
