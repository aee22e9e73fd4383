"""Small helpers shared by the model backends: model references and load errors."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import ConfigError


class ClassNameModelId:
    """The ``model_id`` of a stage of one's own that names none: its class name. A
    non-data descriptor on the stage protocols, so a subclass's own ``model_id`` (a class
    attribute, a property, or one set in ``__init__``) wins."""

    def __get__(self, obj: object, owner: type | None = None) -> str:
        return (owner or type(obj)).__name__


def model_id_of(stage: object) -> str:
    """A stage's ``model_id``, or its class name when it has none (an object of one's own
    with only its one method)."""
    value = getattr(stage, "model_id", None)
    return value if isinstance(value, str) and value else type(stage).__name__


def looks_local(model: str) -> bool:
    """True when ``model`` is meant as a folder rather than a hub id like ``org/name``."""
    if Path(model).expanduser().exists():
        return True
    if model.startswith(("/", "./", "../", "~", ".\\", "..\\")) or "\\" in model:
        return True
    return model.count("/") > 1


def downloads_off() -> bool:
    """True when model downloads are turned off (``HF_HUB_OFFLINE``): a model that is not on
    this machine already cannot be had."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hub_cached(repo_id: str, revision: str | None = None, cache_dir: str | None = None) -> bool:
    """Whether a snapshot of the hub repository ``repo_id`` is in the local hub cache."""
    try:
        from huggingface_hub import snapshot_download

        snapshot_download(repo_id, revision=revision, cache_dir=cache_dir,
                          local_files_only=True)
    except Exception:  # not cached, or not a valid id: either way it cannot load offline
        return False
    return True


def missing_hub_model(what: str, model_id: str, revision: str | None = None) -> str | None:
    """``what 'ID'`` when ``model_id`` is a local folder that is not there, or a hub id that
    is not cached while downloads are off; None when it can load (or download)."""
    if looks_local(model_id):
        return None if Path(model_id).expanduser().exists() else f"{what} {model_id!r}"
    if downloads_off() and not hub_cached(model_id, revision):
        return f"{what} {model_id!r}"
    return None


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first non-empty line of an exception's message, capped at ``limit`` characters."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def hub_commit(model: object) -> str | None:
    """The hub commit a loaded transformers model came from (recorded on its config); None
    when nothing is loaded yet and for local folders."""
    found = getattr(getattr(model, "config", None), "_commit_hash", None)
    return found if isinstance(found, str) and found else None


def pick_backend(name: str, registry: Mapping[str, object], auto_order: Sequence[str],
                 device: str, *, kind: str, auto: str, install_hint: str) -> str:
    """The registry key ``name`` stands for. ``auto`` is the first of ``auto_order`` whose
    class is registered and says it is ``available(device)`` (a class without that check
    counts as available); ConfigError for an unknown name or when none is installed."""
    key = str(name).strip().lower()
    if key == auto:
        for candidate in auto_order:
            available = getattr(registry.get(candidate), "available", None)
            if candidate in registry and (available is None or available(device)):
                return candidate
        raise ConfigError(f"no {kind} is installed", stage="options", hint=install_hint)
    if key not in registry:
        raise ConfigError(f"unknown {kind} {name!r}", stage="options",
                          hint=f"known {kind}s: {', '.join(sorted(registry))}, {auto}")
    return key
