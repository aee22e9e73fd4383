"""Torch device and dtype choice, shared by the model backends (torch imported lazily)."""

from __future__ import annotations

import math
import os
from pathlib import Path
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


def cgroup_cpu_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs' worth of time the container may use (``docker --cpus``), or None when unlimited."""
    try:
        v2 = root / "cpu.max"  # cgroup v2: "max 100000" or "200000 100000"
        if v2.is_file():
            quota, period = v2.read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())  # cgroup v1
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us
    except (OSError, ValueError):
        return None


def available_cpus() -> int:
    """CPUs this process may run on (affinity mask), capped by a cgroup CPU quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)


def configure_cpu_threads() -> None:
    """At most one torch thread per usable CPU, unless the user set OMP_NUM_THREADS.

    torch counts the host's cores; under a CPU quota (containers) more threads than the quota
    only contend with each other. Never raises the count (tests set 1 on purpose).
    """
    import torch

    if "OMP_NUM_THREADS" in os.environ:
        return
    cores = available_cpus()
    if torch.get_num_threads() > cores:
        torch.set_num_threads(cores)
