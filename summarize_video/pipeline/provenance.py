"""The ``provenance`` block of every result: what made it, so a run can be redone or compared.

Versions come from the installed packages' metadata (nothing heavy is imported), models from
the backends that ran, prompt hashes from the prompt files that were used (the user's own from
``prompts_dir`` when they have one), settings from ``Options`` without secrets, and the input
from its bytes. Timings are not repeated: they are the result's ``timings_s``.
"""

from __future__ import annotations

import platform
from dataclasses import fields
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from .._version import __version__
from ..model_refs import model_id_of
from ..options import SECRETS, Options
from ..redaction import redact_url
from .fingerprint import backend_name, prompt_files, prompt_record

# Distributions whose versions change results (yt-dlp only matters for URL inputs).
PACKAGES = ("torch", "transformers", "openai-whisper", "faster-whisper", "ctranslate2",
            "onnxruntime", "av", "openai", "numpy", "tiktoken", "yt-dlp")


def build_provenance(
    options: Options,
    *,
    path: str | Path,
    source: str | None,
    file_hash: str,
    captioner: Any | None,
    transcriber: Any | None,
    reasoner: Any | None,
    reasoning: dict[str, Any],
    threads: dict[str, int] | None = None,
    reader: Any | None = None,
    screen: bool = False,
) -> dict[str, Any]:
    """The block for one input. ``captioner``/``transcriber`` are the backends that ran on it
    (None when the file had no video/audio), ``reasoner`` the LLM (None without one; a dry run
    records the model it would use), ``reasoning`` the result's reasoning facts, ``threads``
    the CPU threads each model stage was given (``ThreadSplit.record``), ``reader`` the screen
    reader that read its frames (None: none ran), ``screen`` whether it read any text (the
    screen-text prompt is then in use)."""
    planned = bool(reasoning)
    prompts = prompt_files(options, captions=captioner is not None, summary=planned,
                           windows=int(reasoning.get("windows") or 1), screen=screen)
    llm = model_record(reasoner, options.reasoner) if reasoner is not None else None
    if llm is None and planned:
        llm = {"backend": options.reasoner, "class": None, "model_id": options.llm_model,
               "revision": None}
    local = Path(path)
    return {
        "tool": {"name": "summarize-video", "version": __version__},
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in PACKAGES},
        "models": {
            "captioner": model_record(captioner, backend_name(captioner)) if captioner else None,
            "transcriber": (model_record(transcriber, backend_name(transcriber))
                            if transcriber else None),
            "reasoner": llm,
            **({"reader": model_record(reader, backend_name(reader))} if reader else {}),
        },
        "prompts": {name: prompt_record(name, options.prompts_dir) for name in prompts},
        "prompts_dir": str(options.prompts_dir) if options.prompts_dir else None,
        "settings": settings_record(options),
        "input": {
            "path": source or str(path),
            "url": source,
            "file_name": local.name,
            "sha256": file_hash,
            "size_bytes": local.stat().st_size,
        },
        "threads": threads,
        "timings": "#/timings_s",
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def settings_record(options: Options) -> dict[str, Any]:
    """Every option, JSON-ready, secrets left out."""
    record: dict[str, Any] = {}
    for f in fields(options):
        if f.name in SECRETS:
            continue
        value = getattr(options, f.name)
        if isinstance(value, Path):
            value = str(value)
        elif f.name == "base_url" and value:
            value = redact_url(value)
        elif isinstance(value, tuple):
            value = list(value)
        record[f.name] = value
    return record


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def model_record(backend: Any, default_backend: str) -> dict[str, Any]:
    """Backend, class, model id and revision of a backend. A stand-in for a backend that runs
    elsewhere (the Ray executor's reasoner) reports the real one's, as ``provenance_model``."""
    described = getattr(backend, "provenance_model", None)
    if isinstance(described, dict):
        return dict(described)
    # A reasoner names its backend ("openai"); a gated transcriber holds its engine.
    engine = getattr(backend, "backend", None)
    inner = backend if engine is None or isinstance(engine, str) else engine
    record = {
        "backend": engine if isinstance(engine, str) and engine else default_backend,
        "class": type(inner).__name__,
        "model_id": model_id_of(backend),
        "revision": _revision(inner),
    }
    # The numeric precision, for a backend that has a choice (faster-whisper's compute type).
    compute_type = getattr(inner, "compute_type", None)
    if isinstance(compute_type, str):
        record["compute_type"] = compute_type
    # The detector a gated transcriber's silence gate ran (silero, energy or off).
    vad = getattr(backend, "vad_name", None)
    if isinstance(vad, str):
        record["vad"] = vad
    return record


def _revision(backend: Any) -> str | None:
    """The revision asked for, else the hub commit the loaded weights came from (``commit``,
    where the backend knows it); None for local folders and whisper checkpoints."""
    for attr in ("revision", "commit"):
        value = getattr(backend, attr, None)
        if isinstance(value, str) and value:
            return value
    return None
