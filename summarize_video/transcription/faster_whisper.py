"""The faster-whisper backend: Whisper on CTranslate2, several times faster than openai-whisper
on a CPU (int8) with the same words.

Models: whisper's names (``tiny``, ``tiny.en``, ``base``, ``small``, ``turbo``...), hub ids of
CTranslate2 conversions (``owner/name``), or a local CTranslate2 folder (``model.bin``,
``config.json``, ``tokenizer.json``). faster-whisper's own VAD stays off: the gated loop around
every backend does the gating. ctranslate2 and faster_whisper are imported inside methods only.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelLoadError, TranscribeError
from ..media.audio import WHISPER_SAMPLE_RATE
from ..model_refs import downloads_off
from ..options import (
    AUTO,
    COMPUTE_TYPES,
    Options,
    check_choice,
)
from .base import RawSegment, Recognized, reason
from .whisper_family import WhisperFamilyBackend, decoding_values, normalise_language

log = logging.getLogger(__name__)

MODEL_HINT = ("a whisper model name like tiny.en/base/turbo, a hub id of a CTranslate2 "
              "conversion, or a folder holding model.bin and config.json")


def default_compute_type(device: str) -> str:
    """``auto``'s compute type: float16 on CUDA, int8 elsewhere."""
    return "float16" if device.startswith("cuda") else "int8"


def is_local_reference(model: str) -> bool:
    """Whether ``model`` names a place on disk rather than a model name or hub id."""
    return (model.startswith((".", "/", "~")) or model.count("/") > 1
            or (os.sep != "/" and os.sep in model) or model.endswith((".pt", ".pth", ".bin")))


def cpu_threads() -> int:
    """The CPU threads the process is set to use: torch's setting when torch is loaded (the
    pipeline loads it), else CTranslate2's own default (0)."""
    torch = sys.modules.get("torch")
    return int(torch.get_num_threads()) if torch is not None else 0


class FasterWhisperBackend(WhisperFamilyBackend):
    """faster-whisper as a ``SpeechBackend``, loaded once on first use (or by ``load()``)."""

    # Its name in transcription.registry (what cache keys and provenance record).
    name = "faster-whisper"
    # What its loading imports (the pipeline imports them first, before its threads start).
    modules = ("ctranslate2", "faster_whisper", "onnxruntime")
    # Options this backend reads beyond those every transcriber shares (always fingerprinted).
    option_fields = ("compute_type",)

    def __init__(self, model: str | os.PathLike[str] | None = None, *,
                 compute_type: str = AUTO, beam_size: int = 1, threads: int = 0,
                 **decoding: Any) -> None:
        """``decoding``: the keywords every Whisper-family backend takes (``device``,
        ``language``, temperatures, thresholds, ``download_root``)."""
        super().__init__(model, **decoding)
        check_choice(compute_type, COMPUTE_TYPES, "compute type")
        self._compute_arg = compute_type
        # Greedy decoding, as the openai-whisper backend does.
        self.beam_size = beam_size
        # CTranslate2's CPU threads, fixed when the model loads; 0: ``cpu_threads()``. The
        # pipeline sets its share of the cores here before the first file.
        self.threads = threads
        self._compute_type: str | None = None

    @classmethod
    def from_options(cls, options: Options) -> FasterWhisperBackend:
        return cls(options.whisper_model, compute_type=options.compute_type,
                   **decoding_values(options))

    @classmethod
    def available(cls, device: str) -> bool:
        return importlib.util.find_spec("faster_whisper") is not None

    def missing_model(self) -> str | None:
        """The model, named, when it is not on this machine and cannot be downloaded (a
        folder that is not there; a name or hub id not in the hub cache while downloads are
        off). What is wrong with a folder that is there, loading says."""
        model_id = self.model_id
        if Path(model_id).expanduser().is_dir() or model_id.endswith((".pt", ".pth")):
            return None
        if is_local_reference(model_id):
            return f"faster-whisper model folder {model_id!r}"
        if not downloads_off():
            return None
        try:
            from faster_whisper.utils import download_model

            download_model(model_id, local_files_only=True, cache_dir=self.download_root)
        except Exception:  # not cached, or not a model name: it cannot load offline
            return f"faster-whisper model {model_id!r}"
        return None

    @classmethod
    def loads(cls, model: str | None) -> bool:
        """Whether this backend can load ``model`` at all (not an openai-whisper .pt file)."""
        return model is None or not str(model).endswith((".pt", ".pth"))

    def _resolve(self) -> None:
        if self._model_id is not None:
            return
        super()._resolve()
        assert self._device is not None
        self._compute_type = (default_compute_type(self._device) if self._compute_arg == AUTO
                              else self._compute_arg)

    @property
    def compute_type(self) -> str:
        """The CTranslate2 compute type in use (``auto`` resolved per device)."""
        self._resolve()
        assert self._compute_type is not None
        return self._compute_type

    def load(self) -> None:
        """Load the model now (idempotent); raises ``ModelLoadError`` naming the model."""
        if self._model is not None:
            return
        model_id, device, compute_type = self.model_id, self.device, self.compute_type
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise ModelLoadError(f"cannot import faster_whisper: {exc}", path=model_id,
                                 hint="pip install faster-whisper") from exc
        self._language = normalise_language(self._language_arg)
        source = self._source(model_id)
        index = int(device.split(":")[1]) if ":" in device else 0
        started = time.perf_counter()
        log.info("loading faster-whisper model %s on %s (%s, %s CPU threads)", model_id,
                 device, compute_type, self.threads or cpu_threads() or "default")
        try:
            model = WhisperModel(source, device=device.split(":")[0], device_index=index,
                                 compute_type=compute_type,
                                 cpu_threads=self.threads or cpu_threads(),
                                 download_root=self.download_root)
        except Exception as exc:
            raise ModelLoadError(f"cannot load faster-whisper model {model_id!r} "
                                 f"({compute_type} on {device}): {reason(exc)}",
                                 path=model_id, hint=MODEL_HINT) from exc
        self._keep_english(bool(model.model.is_multilingual))
        self._model = model
        log.info("faster-whisper model %s loaded in %.1f s", model_id,
                 time.perf_counter() - started)

    @staticmethod
    def _source(model_id: str) -> str:
        """A local folder as a path; a name or hub id as given. A missing folder, or an
        openai-whisper checkpoint, is a ModelLoadError."""
        folder = Path(model_id).expanduser()
        if folder.is_dir():
            if not (folder / "model.bin").is_file():
                raise ModelLoadError(f"{model_id!r} holds no CTranslate2 model.bin",
                                     path=model_id, hint=MODEL_HINT)
            return str(folder)
        if model_id.endswith((".pt", ".pth")):
            raise ModelLoadError(f"{model_id!r} is an openai-whisper checkpoint, which "
                                 "faster-whisper cannot load", path=model_id,
                                 hint="use --transcriber whisper for .pt checkpoints")
        if is_local_reference(model_id):
            raise ModelLoadError(f"faster-whisper model folder {model_id!r} not found",
                                 path=model_id, hint=MODEL_HINT)
        return model_id

    def transcribe(self, samples: np.ndarray, language: str | None) -> Recognized:
        """One faster-whisper run; the user's language, when given, wins over ``language``."""
        self.load()
        multilingual = bool(self._model.model.is_multilingual)
        asked = self._language or language or (None if multilingual else "en")
        duration = samples.size / WHISPER_SAMPLE_RATE
        try:
            found, info = self._model.transcribe(
                np.ascontiguousarray(samples, dtype=np.float32),
                language=asked,
                beam_size=self.beam_size,
                temperature=list(self.temperatures),
                compression_ratio_threshold=self.compression_ratio_threshold,
                log_prob_threshold=self.logprob_threshold,
                no_speech_threshold=self.no_speech_threshold,
                condition_on_previous_text=False,
                vad_filter=False,
            )
            segments = [_raw(s) for s in found]
        except Exception as exc:
            raise TranscribeError(
                f"faster-whisper failed on {duration:.1f} s of audio: {reason(exc)}",
                hint="out of memory? try a smaller --whisper-model or --device cpu",
            ) from exc
        return Recognized(segments=segments, language=info.language or asked,
                          language_detected=asked is None,
                          info={"language_probability": info.language_probability})


def _raw(segment: Any) -> RawSegment:
    """A faster-whisper ``Segment`` as the gated loop's raw segment."""
    return RawSegment(start=float(segment.start), end=float(segment.end),
                      text=str(segment.text), avg_logprob=float(segment.avg_logprob),
                      no_speech_prob=float(segment.no_speech_prob),
                      compression_ratio=float(segment.compression_ratio),
                      temperature=float(segment.temperature or 0.0))
