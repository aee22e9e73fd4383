"""What every Whisper-family backend shares: the decoding keywords taken from ``Options``, the
temperature schedule, language names, and lazy resolution of the device and model id.

The openai-whisper backend (``whisper.py``) and the CTranslate2 one (``faster_whisper.py``)
are subclasses of ``WhisperFamilyBackend``; each adds only its own loading and decoding.
Nothing here imports torch, whisper or ctranslate2 at module level.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..options import (
    AUTO,
    DEFAULT_COMPRESSION_RATIO_THRESHOLD,
    DEFAULT_LOGPROB_THRESHOLD,
    DEFAULT_NO_SPEECH_THRESHOLD,
    DEFAULT_WHISPER_MODEL_CPU,
    DEFAULT_WHISPER_MODEL_CUDA,
    Options,
)

log = logging.getLogger(__name__)


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


class WhisperFamilyBackend:
    """The shared half of a Whisper-family ``SpeechBackend``: constructor keywords, lazy
    device and model resolution (``auto`` needs torch to know whether CUDA is there), and the
    English-only language rule. Subclasses implement ``load()`` and ``transcribe()``."""

    # Its name in transcription.registry (what cache keys and provenance record).
    name = "whisper-family"

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        device: str = AUTO,
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
        # The temperatures tried in turn when a decoding fails whisper's thresholds.
        self.temperatures = temperature_schedule(temperature, temperature_increment)
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
    def from_options(cls, options: Options) -> WhisperFamilyBackend:
        return cls(options.whisper_model, **decoding_values(options))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._model_arg!r})"

    def _resolve(self) -> None:
        if self._model_id is not None:
            return
        from ..devices import resolve_device

        resolved = resolve_device(self._device_arg)
        # Both run on CUDA or the CPU: whisper on MPS is unreliable (sparse alignment heads,
        # fp16 paths) and CTranslate2 has no MPS.
        self._device = resolved if resolved.startswith("cuda") else "cpu"
        if self._model_arg is None:
            cuda = self._device.startswith("cuda")
            self._model_id = DEFAULT_WHISPER_MODEL_CUDA if cuda else DEFAULT_WHISPER_MODEL_CPU
        else:
            self._model_id = self._model_arg

    @property
    def model_id(self) -> str:
        """The model name, hub id, folder or checkpoint (``None`` resolved per device)."""
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

    def _keep_english(self, multilingual: bool) -> None:
        """An English-only model keeps English whatever language was asked (warned)."""
        if not multilingual and self._language not in (None, "en"):
            log.warning("%s is an English-only model; ignoring language %r",
                        self.model_id, self._language)
            self._language = "en"
