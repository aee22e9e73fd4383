"""Small helpers shared by the model backends: model references and load errors."""

from __future__ import annotations

from pathlib import Path


def looks_local(model: str) -> bool:
    """True when ``model`` is meant as a folder rather than a hub id like ``org/name``."""
    if Path(model).expanduser().exists():
        return True
    if model.startswith(("/", "./", "../", "~", ".\\", "..\\")) or "\\" in model:
        return True
    return model.count("/") > 1


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first non-empty line of an exception's message, capped at ``limit`` characters."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
