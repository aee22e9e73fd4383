"""The reasoning step: one text LLM, behind a server or in-process.

``OpenAIReasoner`` (``openai_reasoner``) reaches OpenAI or any OpenAI-compatible server
(Ollama, vLLM, LM Studio, llama.cpp) through the official ``openai`` client;
``TransformersReasoner`` (``local_reasoner``) runs a small instruct model locally. Both answer
``complete(messages, *, max_output_tokens=None, json_mode=False) -> Completion`` and name
themselves in ``model_id`` and ``backend``.

``create_reasoner("auto", ...)`` picks: the server when an API key or a base URL is given
(argument or ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL``), else the local model, whose default
replaces the OpenAI default model name. Importing this module is cheap: ``openai``, torch and
transformers are imported when a reasoner is built or a model loads.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import Any

from ..errors import ConfigError
from ..options import DEFAULT_LLM_MODEL, DEFAULT_LOCAL_LLM_MODEL
from .base import Completion, Message, Reasoner, Usage, strip_thinking
from .local_model import TransformersReasoner
from .openai_server import OPENAI_BASE_URL, PLACEHOLDER_API_KEY, OpenAIReasoner
from .tokens import estimate_tokens

__all__ = [
    "OPENAI_BASE_URL",
    "PLACEHOLDER_API_KEY",
    "REASONERS",
    "Completion",
    "Message",
    "OpenAIReasoner",
    "Reasoner",
    "TransformersReasoner",
    "Usage",
    "create_reasoner",
    "default_model_for",
    "estimate_tokens",
    "resolve_reasoner",
    "strip_thinking",
]

AUTO = "auto"

REASONERS: dict[str, Callable[..., Reasoner]] = {
    "openai": OpenAIReasoner,
    "transformers": TransformersReasoner,
}

_DEFAULT_MODELS = {"openai": DEFAULT_LLM_MODEL, "transformers": DEFAULT_LOCAL_LLM_MODEL}
# Keyword arguments only one backend understands; the other backend drops them, so callers
# (the pipeline) may pass one set for whichever backend "auto" picks.
_BACKEND_KWARGS = frozenset({
    "base_url", "api_key", "timeout", "max_retries", "temperature",  # OpenAIReasoner
    "device", "revision", "max_new_tokens",  # TransformersReasoner
    "max_output_tokens",  # OpenAIReasoner (the local one calls it max_new_tokens)
})


def _names(value: str | None) -> str:
    return (value or "").strip()


def resolve_reasoner(name: str, *, api_key: str | None = None,
                     base_url: str | None = None) -> str:
    """The backend ``name`` stands for: ``"auto"`` becomes ``"openai"`` when an API key or a
    base URL is given (argument or ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL``), else
    ``"transformers"``; other names come back lower-cased, and must be registered."""
    resolved = _names(name).lower() or AUTO
    if resolved == AUTO:
        remote = (_names(api_key) or _names(os.environ.get("OPENAI_API_KEY"))
                  or _names(base_url) or _names(os.environ.get("OPENAI_BASE_URL")))
        return "openai" if remote else "transformers"
    if resolved not in REASONERS:
        raise ConfigError(
            f"unknown reasoner {name!r}",
            hint=f"use one of: {', '.join([AUTO, *sorted(REASONERS)])}",
        )
    return resolved


def default_model_for(backend: str) -> str:
    """The model a backend uses when none is chosen (``"auto"`` is not a backend)."""
    try:
        return _DEFAULT_MODELS[backend.strip().lower()]
    except KeyError:
        raise ConfigError(
            f"no default model for reasoner {backend!r}",
            hint=f"use one of: {', '.join(sorted(_DEFAULT_MODELS))}",
        ) from None


def create_reasoner(name: str, **kwargs: Any) -> Reasoner:
    """Build the reasoner registered as ``name`` (see ``REASONERS``), or pick one for "auto".

    Keyword arguments the chosen backend does not take but the other does (``base_url``,
    ``api_key``, ``timeout`` for a local model; ``device`` for a server) are dropped;
    ``max_output_tokens`` becomes the local model's ``max_new_tokens``. The local backend
    replaces a missing model or the OpenAI default name with its own default.
    """
    backend = resolve_reasoner(name, api_key=kwargs.get("api_key"),
                               base_url=kwargs.get("base_url"))
    factory = REASONERS[backend]
    try:
        accepted = set(inspect.signature(factory).parameters)
    except (TypeError, ValueError):  # a factory without a readable signature: pass all
        accepted = set(kwargs)
    budget = kwargs.get("max_output_tokens")
    kwargs = {k: v for k, v in kwargs.items() if k in accepted or k not in _BACKEND_KWARGS}
    if backend == "transformers":
        if budget is not None and "max_new_tokens" in accepted:
            kwargs.setdefault("max_new_tokens", budget)
        model = kwargs.get("model")
        if model is None or _names(model) in ("", DEFAULT_LLM_MODEL):
            kwargs["model"] = DEFAULT_LOCAL_LLM_MODEL
    elif kwargs.get("model") is None:
        kwargs["model"] = default_model_for(backend)
    return factory(**kwargs)
