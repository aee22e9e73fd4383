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

from ..errors import ConfigError, ModelLoadError, TranscribeError
from ..media.audio import WHISPER_SAMPLE_RATE
from ..model_refs import downloads_off
from ..options import (
    DEFAULT_COMPRESSION_RATIO_THRESHOLD,
    DEFAULT_LOGPROB_THRESHOLD,
    DEFAULT_NO_SPEECH_THRESHOLD,
    DEFAULT_SILENCE_GATE,
    DEFAULT_WHISPER_MODEL_CPU,
    DEFAULT_WHISPER_MODEL_CUDA,
    Options,
)
from .base import Recognized, reason
from .cutting import DEFAULT_PIECE_S
from .gated import GatedTranscriber

log = logging.getLogger(__name__)

MODEL_HINT = "a whisper model name like base/small/turbo or a .pt path; first runs download it"


def temperature_schedule(temperature: float, increment: float) -> tuple[float, ...]:
    """The temperatures whisper tries in turn, built like whisper's own CLI."""
    if increment > 0:
        temps = tuple(float(t) for t in np.arange(temperature, 1.0 + 1e-6, increment))
        return temps or (temperature,)
    return (temperature,)


def check_temperatures(temperature: float, increment: float) -> None:
    """ConfigError for a negative temperature or increment (both Whisper-family backends)."""
    if temperature < 0 or increment < 0:
        raise ConfigError("whisper temperature and temperature increment must not be negative",
                          stage="options",
                          hint="use e.g. --temperature 0 --temperature-increment 0.2")


def decoding_values(o: Options) -> dict[str, Any]:
    """The ``Options`` every Whisper-family backend decodes with, as its keywords."""
    return dict(device=o.device, language=o.language, temperature=o.temperature,
                temperature_increment=o.temperature_increment,
                no_speech_threshold=o.no_speech_threshold,
                logprob_threshold=o.logprob_threshold,
                compression_ratio_threshold=o.compression_ratio_threshold)


# The checkpoint file a whisper model name downloads to, where it is not NAME.pt.
_CHECKPOINT_FILES = {"large": "large-v3.pt", "turbo": "large-v3-turbo.pt"}


def _looks_like_path(model: str) -> bool:
    return model.endswith((".pt", ".pth")) or os.sep in model or "/" in model


class WhisperBackend:
    """openai-whisper as a ``SpeechBackend``, loaded once on first use (or by ``load()``)."""

    # Its name in transcription.registry (what cache keys and provenance record).
    name = "whisper"

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        device: str = "auto",
        language: str | None = None,
        temperature: float = 0.0,
        temperature_increment: float = 0.2,
        download_root: str | None = None,
        no_speech_threshold: float | None = DEFAULT_NO_SPEECH_THRESHOLD,
        logprob_threshold: float | None = DEFAULT_LOGPROB_THRESHOLD,
        compression_ratio_threshold: float | None = DEFAULT_COMPRESSION_RATIO_THRESHOLD,
    ) -> None:
        check_temperatures(temperature, temperature_increment)
        self._model_arg = os.fspath(model) if model is not None else None
        self._device_arg = device
        self._language_arg = language or None
        self.temperature = temperature
        self.temperature_increment = temperature_increment
        self.download_root = download_root
        # whisper's own fallback thresholds (the gated loop applies them per segment too).
        self.no_speech_threshold = no_speech_threshold
        self.logprob_threshold = logprob_threshold
        self.compression_ratio_threshold = compression_ratio_threshold
        self._device: str | None = None
        self._model_id: str | None = None
        self._language: str | None = None
        self._model: Any = None

    @classmethod
    def from_options(cls, options: Options) -> WhisperBackend:
        return cls(options.whisper_model, **decoding_values(options))

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

    def __repr__(self) -> str:
        return f"WhisperBackend({self._model_arg!r})"

    # Resolution is lazy: "auto" needs torch to know whether CUDA is there.
    def _resolve(self) -> None:
        if self._model_id is not None:
            return
        from ..devices import resolve_device

        resolved = resolve_device(self._device_arg)
        # whisper on MPS is unreliable (sparse alignment heads, fp16 paths): use the CPU there.
        self._device = resolved if resolved.startswith("cuda") else "cpu"
        if self._model_arg is None:
            cuda = self._device.startswith("cuda")
            self._model_id = DEFAULT_WHISPER_MODEL_CUDA if cuda else DEFAULT_WHISPER_MODEL_CPU
        else:
            self._model_id = self._model_arg

    @property
    def model_id(self) -> str:
        """The whisper model name or checkpoint path (``None`` resolved per device)."""
        self._resolve()
        assert self._model_id is not None
        return self._model_id

    @property
    def device(self) -> str:
        """``cuda`` (or ``cuda:N``) when the resolved device is a CUDA GPU, else ``cpu``."""
        self._resolve()
        assert self._device is not None
        return self._device

    @property
    def is_loaded(self) -> bool:
        return self._model is not None

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
        if not model.is_multilingual and self._language not in (None, "en"):
            log.warning("%s is an English-only model; ignoring language %r",
                        model_id, self._language)
            self._language = "en"
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
                temperature=temperature_schedule(self.temperature, self.temperature_increment),
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
        super().__init__(backend, name="whisper", silence_gate=silence_gate, chunk_s=chunk_s,
                         **thresholds)


def normalise_language(language: str | None) -> str | None:
    """``"English"``/``"EN"`` -> ``"en"``; ConfigError for a language whisper does not know."""
    if not language:
        return None
    from whisper.tokenizer import LANGUAGES, TO_LANGUAGE_CODE

    code = language.strip().lower()
    if code in LANGUAGES:
        return code
    if code in TO_LANGUAGE_CODE:
        return TO_LANGUAGE_CODE[code]
    raise ConfigError(f"whisper does not know the language {language!r}", stage="options",
                      hint="use a code like en, de, fr, ja or leave it unset to detect it")
