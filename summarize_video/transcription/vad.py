"""Voice-activity detectors for the gate around every speech backend, by name.

``silero``: the Silero VAD v6 neural model (``silero``), which tells speech from music and
noise; ``energy``: the loudness gate (``silence``), which keeps any sound; ``off``: no gate,
the backend hears everything; ``auto``: silero when its model file and onnxruntime are
installed, else energy (with one warning line). Each detector gives ``(start, end)`` regions
that the same splice, cutting and guards use.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelLoadError
from ..options import AUTO, VAD_MODES, check_choice
from .silence import speech_regions
from .silero import MODEL_FILE, model_path, runtime_installed, silero_regions

log = logging.getLogger(__name__)

OFF = "off"
ENERGY = "energy"
SILERO = "silero"
INSTALL_HINT = ("install faster-whisper 1.2 or newer (it ships the model file) and onnxruntime, "
                "or use --vad energy")

_warned: set[str] = set()


class Vad:
    """A detector: ``regions(samples, sample_rate)`` -> ``[(start, end), ...]`` seconds."""

    name: str = ENERGY

    def regions(self, samples: np.ndarray, sample_rate: int) -> list[tuple[float, float]]:
        return speech_regions(samples, sample_rate)


@dataclass(frozen=True)
class SileroVad(Vad):
    """The Silero VAD v6 model at ``path``."""

    path: Path
    name: str = SILERO

    def regions(self, samples: np.ndarray, sample_rate: int) -> list[tuple[float, float]]:
        return silero_regions(samples, sample_rate, self.path)


def silero_available(path: Path | None) -> bool:
    return path is not None and path.is_file() and runtime_installed()


def resolve_vad(name: str, *, silero_model: Path | None = None) -> Vad | None:
    """The detector ``name`` (one of ``VAD_MODES``) stands for; None for ``off``.

    ``silero_model``: the model file (default: the one the installed faster-whisper ships).
    ``auto`` falls back to the energy gate, with one warning line per process, when the model
    file or onnxruntime is missing; ``silero`` asked for by name is a ModelLoadError then.
    """
    key = str(name).strip().lower()
    check_choice(key, VAD_MODES, "VAD", shown=name)
    if key == OFF:
        return None
    if key == ENERGY:
        return Vad()
    path = silero_model if silero_model is not None else model_path()
    if silero_available(path):
        assert path is not None
        return SileroVad(path)
    if path is None:
        missing = f"no installed package ships {MODEL_FILE}"
    elif not path.is_file():
        missing = f"the Silero VAD model file {path} is missing"
    else:
        missing = "onnxruntime is not installed"
    if key == AUTO:
        if missing not in _warned:
            _warned.add(missing)
            log.warning("%s: using the energy gate instead (%s)", missing, INSTALL_HINT)
        return Vad()
    raise ModelLoadError(f"--vad silero: {missing}", stage="transcribe", hint=INSTALL_HINT)


def vad_name(vad: Vad | None) -> str:
    """What provenance, cache keys and logs call the detector in use."""
    return OFF if vad is None else vad.name
