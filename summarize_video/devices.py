"""Torch device and dtype choice, shared by the model backends (torch imported lazily)."""

from __future__ import annotations

import os
from typing import Any

from .errors import ConfigError

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(device: str = "auto") -> str:
    """``auto`` becomes cuda, then mps, then cpu; an explicit device must exist."""
    import torch

    name = (device or "auto").lower()
    kind = name.split(":")[0]
    if kind not in DEVICES:
        raise ConfigError(f"unknown device {device!r}", hint=f"use one of {', '.join(DEVICES)}")
    if kind == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but no CUDA GPU is visible",
                          hint="use --device cpu or auto")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("--device mps was asked for but MPS is not available",
                          hint="use --device cpu or auto")
    return name


def torch_dtype(device: str) -> Any:
    """bf16 on CUDA GPUs that support it, fp16 on other CUDA and MPS, float32 on CPU."""
    import torch

    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.startswith("mps"):
        return torch.float16
    return torch.float32


def configure_cpu_threads() -> None:
    """Use the physical cores once, unless the user set OMP_NUM_THREADS or torch threads."""
    import torch

    if "OMP_NUM_THREADS" in os.environ:
        return
    cores = os.cpu_count() or 1
    if torch.get_num_threads() > cores:
        torch.set_num_threads(cores)
