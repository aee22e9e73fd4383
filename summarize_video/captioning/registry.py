"""Captioning backends by name, and ``auto``: the best one installed for the device.

A new backend is one file in this folder (a ``CaptionBackend``) and one line in
``CAPTIONERS``; it is then ``--captioner NAME`` and ``summarize(..., captioner="NAME")``.
"""

from __future__ import annotations

from typing import Any

from ..model_refs import pick_backend
from ..options import AUTO, Options
from .base import CaptionBackend
from .onnx import OnnxCaptioner
from .transformers import TransformersCaptioner

CAPTIONERS: dict[str, type[CaptionBackend]] = {
    "transformers": TransformersCaptioner,
    # Idefics3/SmolVLM converted to ONNX and run by onnxruntime on the CPU; other families
    # and other devices run as "transformers" does.
    "onnx": OnnxCaptioner,
}
# What ``auto`` tries, best first; the first one installed for the device is used (onnx on
# the CPU only).
AUTO_ORDER: tuple[str, ...] = ("onnx", "transformers")


def resolve_captioner(name: str, device: str = "auto") -> str:
    """The registry name ``name`` stands for (``auto``: the first of ``AUTO_ORDER`` that is
    available on ``device``); ConfigError for an unknown name."""
    return pick_backend(name, CAPTIONERS, AUTO_ORDER, device, kind="captioner", auto=AUTO,
                        install_hint="pip install transformers torch")


def create_captioner(name: str = AUTO, options: Options | None = None,
                     **option_values: Any) -> CaptionBackend:
    """The captioner registered as ``name``, built from ``options`` (or ``Options`` field
    keywords)."""
    o = Options.from_kwargs(options, **option_values)
    captioner = CAPTIONERS[resolve_captioner(name, o.device)].from_options(o)
    return captioner
