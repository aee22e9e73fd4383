"""Scripted answers and real servers' rejections, for ``ChatServer``. Standard library only.

The rejection texts are OpenAI's own wording (and, for ``max_completion_tokens``, the pydantic
wording of compatible servers that lack it), so that callers are tested against what they
will really read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# What ``reject_params`` may name: request parameters, and the two instruction roles.
REJECTABLE = frozenset(
    {"temperature", "max_tokens", "max_completion_tokens", "response_format", "developer",
     "system"}
)
THINK_MODES = ("inline", "field", "both")


@dataclass(frozen=True)
class Step:
    """One scripted answer: an HTTP error (``status`` >= 400) or a 200 with chosen content.

    ``retry_after`` / ``retry_after_ms`` set those headers (else errors carry
    ``retry-after-ms: 10`` so that client retries are quick); ``headers`` adds any others.
    ``content`` replaces the server's reply for a 200 (``""`` with ``finish_reason="length"``
    is a reasoning model that spent its budget); ``delay`` is waited before answering (a
    server that never answers: a delay longer than the client's timeout).
    """

    status: int = 200
    retry_after: float | None = None
    retry_after_ms: float | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    message: str | None = None
    content: str | None = None
    finish_reason: str = "stop"
    delay: float = 0.0
    # Faults of the wire: ``cut`` sends the headers and half the body of a normal answer, then
    # closes the connection; ``body`` is sent as-is as a 200 ``application/json`` body (a
    # malformed one, say).
    cut: bool = False
    body: str | None = None
    # Hostile servers: ``bomb`` sends a gzip body (``Content-Encoding: gzip``) that inflates to
    # this many bytes; ``trickle`` sends the answer one byte every this many seconds (with a
    # Content-Length, or ``chunked``); ``location`` answers ``status`` (a 3xx) pointing there.
    bomb: int = 0
    trickle: float = 0.0
    chunked: bool = False
    location: str | None = None
    # An error answer's whole JSON body, sent as-is instead of OpenAI's ``{"error": {...}}``
    # (FastAPI servers send ``{"detail": "..."}``).
    error_body: Any = None

    @property
    def wire_fault(self) -> bool:
        return self.cut or self.body is not None or self.bomb > 0 or self.trickle > 0

    def error_headers(self) -> dict[str, str]:
        out = dict(self.headers)
        if self.retry_after is not None:
            out["Retry-After"] = f"{self.retry_after:g}"
        if self.retry_after_ms is not None:
            out["retry-after-ms"] = f"{self.retry_after_ms:g}"
        if self.retry_after is None and self.retry_after_ms is None:
            out.setdefault("retry-after-ms", "10")
        return out


def as_step(item: Step | int) -> Step:
    """A script item: a ``Step``, or a bare status code."""
    return item if isinstance(item, Step) else Step(status=int(item))


@dataclass(frozen=True)
class Rejection:
    message: str
    param: str | None
    code: str | None
    kind: str = "invalid_request_error"
    # Fields a server adds to its error object (llama.cpp's token counts).
    extra: Mapping[str, Any] = field(default_factory=dict)


def _roles(body: dict[str, Any]) -> list[str]:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return []
    return [str(m.get("role")) for m in messages if isinstance(m, dict)]


def rejection(body: dict[str, Any], reject: frozenset[str]) -> Rejection | None:
    """The 400 a server that lacks the parameters or roles in ``reject`` gives ``body``, or
    None. One at a time, in a fixed order, as real servers report the first they meet."""
    roles = _roles(body)
    for role in ("developer", "system"):
        if role in reject and role in roles:
            where = f"messages[{roles.index(role)}].role"
            return Rejection(
                f"Unsupported value: '{where}' does not support '{role}' with this model.",
                where, "unsupported_value",
            )
    if "temperature" in reject and "temperature" in body and body["temperature"] != 1:
        value = body["temperature"]
        return Rejection(
            f"Unsupported value: 'temperature' does not support {value} with this model. "
            "Only the default (1) value is supported.",
            "temperature", "unsupported_value",
        )
    if "max_tokens" in reject and "max_tokens" in body:
        return Rejection(
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            "max_tokens", "unsupported_parameter",
        )
    if "max_completion_tokens" in reject and "max_completion_tokens" in body:
        # vLLM/FastAPI-style validation text, with no ``param`` field to lean on.
        return Rejection(
            "1 validation error for ChatCompletionRequest\nmax_completion_tokens\n  Extra "
            "inputs are not permitted [type=extra_forbidden]",
            None, None,
        )
    if "response_format" in reject and "response_format" in body:
        kind = (body.get("response_format") or {}).get("type", "json_object")
        return Rejection(
            f"Invalid parameter: 'response_format' of type '{kind}' is not supported with "
            "this model.",
            "response_format", None,
        )
    return None


CONTEXT_STYLES = ("openai", "llama.cpp")


def context_rejection(prompt_tokens: int, budget: int | None, limit: int | None,
                      style: str = "openai") -> Rejection | None:
    """The 400 of a server whose context window is ``limit`` tokens: OpenAI's wording when the
    prompt alone is over, vLLM's when the prompt plus the requested output is; or, in the
    "llama.cpp" style, the llama.cpp server's (its counts in ``n_prompt_tokens``/``n_ctx``)."""
    if limit is None:
        return None
    if style == "llama.cpp":
        if prompt_tokens < limit:  # llama.cpp refuses a prompt that leaves no room at all
            return None
        return Rejection("the request exceeds the available context size, try increasing it",
                         None, None, kind="exceed_context_size_error",
                         extra={"n_prompt_tokens": prompt_tokens, "n_ctx": limit})
    if prompt_tokens > limit:
        return Rejection(
            f"This model's maximum context length is {limit} tokens. However, your messages "
            f"resulted in {prompt_tokens} tokens. Please reduce the length of the messages.",
            "messages", "context_length_exceeded",
        )
    if budget is not None and prompt_tokens + budget > limit:
        return Rejection(
            f"This model's maximum context length is {limit} tokens. However, you requested "
            f"{prompt_tokens + budget} tokens ({prompt_tokens} in the messages, {budget} in "
            "the completion). Please reduce the length of the messages or completion.",
            None, None,
        )
    return None


def wants_json(body: dict[str, Any]) -> bool:
    fmt = body.get("response_format")
    return isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema")


def budget_of(body: dict[str, Any]) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if isinstance(value, int) and value > 0:
            return value
    return None
