"""The openai-whisper backend, and ``WhisperTranscriber``: it inside the gated loop.

torch and whisper are imported inside methods only, so importing this module stays cheap.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelLoadError, TranscribeError
from ..media.audio import WHISPER_SAMPLE_RATE
from ..model_refs import downloads_off
from ..options import (
    DEFAULT_COMPRESSION_RATIO_THRESHOLD,
    DEFAULT_LOGPROB_THRESHOLD,
    DEFAULT_NO_SPEECH_THRESHOLD,
    DEFAULT_SILENCE_GATE,
    DEFAULT_VAD,
)
from .base import Recognized, reason
from .cutting import DEFAULT_PIECE_S
from .gated import GatedTranscriber
from .whisper_family import (
    WhisperFamilyBackend,
    check_temperatures,
    decoding_values,
    normalise_language,
    temperature_schedule,
)

__all__ = ["WhisperBackend", "WhisperTranscriber", "check_temperatures", "decoding_values",
           "normalise_language", "temperature_schedule"]

log = logging.getLogger(__name__)

MODEL_HINT = "a whisper model name like base/small/turbo or a .pt path; first runs download it"


# The checkpoint file a whisper model name downloads to, where it is not NAME.pt.
_CHECKPOINT_FILES = {"large": "large-v3.pt", "turbo": "large-v3-turbo.pt"}


def _looks_like_path(model: str) -> bool:
    return model.endswith((".pt", ".pth")) or os.sep in model or "/" in model


class WhisperBackend(WhisperFamilyBackend):
    """openai-whisper as a ``SpeechBackend``, loaded once on first use (or by ``load()``)."""

    # Its name in transcription.registry (what cache keys and provenance record).
    name = "whisper"
    # What its loading imports (the pipeline imports them first, before its threads start).
    modules = ("torch", "whisper")

    @classmethod
    def available(cls, device: str) -> bool:
        return importlib.util.find_spec("whisper") is not None

    def missing_model(self) -> str | None:
        """The model, named, when it is not on this machine and cannot be downloaded (a
        checkpoint file that is not there; a model name not in whisper's download folder
        while downloads are off)."""
        name = self.model_id
        if _looks_like_path(name):
            return None if Path(name).expanduser().is_file() else f"whisper checkpoint {name!r}"
        if not downloads_off():
            return None
        cache = os.getenv("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache"))
        root = Path(self.download_root or os.path.join(cache, "whisper"))
        found = (root / _CHECKPOINT_FILES.get(name, f"{name}.pt")).is_file()
        return None if found else f"whisper model {name!r}"

    def load(self) -> None:
        """Load the model now (idempotent); raises ``ModelLoadError`` naming the model."""
        if self._model is not None:
            return
        model_id, device = self.model_id, self.device
        try:
            import whisper
        except ImportError as exc:  # pragma: no cover - a dependency of the package
            raise ModelLoadError(f"cannot import whisper: {exc}", path=model_id,
                                 hint="pip install openai-whisper") from exc
        self._language = normalise_language(self._language_arg)
        name = model_id
        if name not in whisper.available_models() and _looks_like_path(name):
            checkpoint = Path(name).expanduser()
            if not checkpoint.is_file():
                raise ModelLoadError(f"whisper checkpoint {name!r} not found", path=name,
                                     hint=MODEL_HINT)
            name = str(checkpoint)
        started = time.perf_counter()
        log.info("loading whisper model %s on %s", model_id, device)
        try:
            model = whisper.load_model(name, device=device, download_root=self.download_root)
        except Exception as exc:
            raise ModelLoadError(f"cannot load whisper model {model_id!r}: {reason(exc)}",
                                 path=model_id, hint=MODEL_HINT) from exc
        self._keep_english(bool(model.is_multilingual))
        self._model = model
        log.info("whisper model %s loaded in %.1f s", model_id, time.perf_counter() - started)

    def transcribe(self, samples: np.ndarray, language: str | None) -> Recognized:
        """One whisper run; the user's language, when given, wins over ``language``."""
        self.load()
        result = self._run_whisper(samples, self._language or language)
        detected = self._language is None and bool(getattr(self._model, "is_multilingual", True))
        return Recognized(segments=list(result.get("segments") or ()),
                          language=result.get("language") or self._language or language,
                          language_detected=detected)

    def _run_whisper(self, samples: np.ndarray, language: str | None) -> dict[str, Any]:
        duration = samples.size / WHISPER_SAMPLE_RATE
        try:
            return self._model.transcribe(  # type: ignore[no-any-return]
                samples,
                language=language,
                fp16=self.device.startswith("cuda"),
                condition_on_previous_text=False,
                temperature=self.temperatures,
                no_speech_threshold=self.no_speech_threshold,
                logprob_threshold=self.logprob_threshold,
                compression_ratio_threshold=self.compression_ratio_threshold,
                verbose=None,
            )
        except Exception as exc:
            raise TranscribeError(
                f"whisper failed on {duration:.1f} s of audio: {reason(exc)}",
                hint="out of memory? try a smaller --whisper-model or --device cpu",
            ) from exc


class WhisperTranscriber(GatedTranscriber):
    """openai-whisper inside the gated loop, built from whisper's own keywords."""

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        device: str = "auto",
        language: str | None = None,
        temperature: float = 0.0,
        temperature_increment: float = 0.2,
        download_root: str | None = None,
        silence_gate: bool = DEFAULT_SILENCE_GATE,
        vad: str = DEFAULT_VAD,
        no_speech_threshold: float | None = DEFAULT_NO_SPEECH_THRESHOLD,
        logprob_threshold: float | None = DEFAULT_LOGPROB_THRESHOLD,
        compression_ratio_threshold: float | None = DEFAULT_COMPRESSION_RATIO_THRESHOLD,
        chunk_s: float = DEFAULT_PIECE_S,
    ) -> None:
        thresholds = dict(no_speech_threshold=no_speech_threshold,
                          logprob_threshold=logprob_threshold,
                          compression_ratio_threshold=compression_ratio_threshold)
        backend = WhisperBackend(model, device=device, language=language,
                                 temperature=temperature,
                                 temperature_increment=temperature_increment,
                                 download_root=download_root, **thresholds)
        super().__init__(backend, name="whisper", silence_gate=silence_gate, vad=vad,
                         chunk_s=chunk_s,
                         **thresholds)
