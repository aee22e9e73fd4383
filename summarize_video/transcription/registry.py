"""Transcription backends by name, and ``auto``: the best one installed for the device.

A new backend is one file in this folder (a ``SpeechBackend``) and one line in
``TRANSCRIBERS``; it is then ``--transcriber NAME`` and ``summarize(..., transcriber="NAME")``,
and runs inside the silence gate, the cutting and the guards like every other.
"""

from __future__ import annotations

from typing import Any

from ..model_refs import pick_backend
from ..options import AUTO, Options
from .base import SpeechBackend
from .faster_whisper import FasterWhisperBackend
from .gated import GatedTranscriber
from .whisper import WhisperBackend

TRANSCRIBERS: dict[str, type[SpeechBackend]] = {
    "faster-whisper": FasterWhisperBackend,
    "whisper": WhisperBackend,
}
# What ``auto`` tries, best first; the first one installed for the device (and able to load
# the model asked for) is used.
AUTO_ORDER: tuple[str, ...] = ("faster-whisper", "whisper")


def resolve_transcriber(name: str, device: str = "auto", model: str | None = None) -> str:
    """The registry name ``name`` stands for (``auto``: the first of ``AUTO_ORDER`` that is
    available on ``device`` and, when its class has a ``loads(model)`` check, loads
    ``model``: an openai-whisper .pt checkpoint goes to ``whisper``); ConfigError for an
    unknown name."""
    order = tuple(key for key in AUTO_ORDER
                  if getattr(TRANSCRIBERS.get(key), "loads", lambda _m: True)(model))
    return pick_backend(name, TRANSCRIBERS, order, device, kind="transcriber", auto=AUTO,
                        install_hint="pip install faster-whisper openai-whisper")


def create_transcriber(name: str = AUTO, options: Options | None = None,
                       **option_values: Any) -> GatedTranscriber:
    """The backend registered as ``name``, built from ``options`` (or ``Options`` field
    keywords), inside the gated loop."""
    o = Options.from_kwargs(options, **option_values)
    key = resolve_transcriber(name, o.device, o.whisper_model)
    backend = TRANSCRIBERS[key].from_options(o)
    return GatedTranscriber.around(backend, o, name=key)
