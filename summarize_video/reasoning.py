"""The reasoning step: one text LLM reached through the official ``openai`` client.

Works with OpenAI itself and with any OpenAI-compatible server (Ollama, vLLM, LM Studio,
llama.cpp). Importing this module is cheap: ``openai`` is imported when a reasoner is built.

The API key is a secret: it never appears in a message, a repr or a log line.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from .errors import ConfigError, ReasonerAuthError, ReasonerError

if TYPE_CHECKING:
    from openai import OpenAI

log = logging.getLogger(__name__)

Message = dict[str, str]

OPENAI_BASE_URL = "https://api.openai.com/v1"
# Sent when a local server needs no key: the client insists on one, the server ignores it.
PLACEHOLDER_API_KEY = "not-needed"
_DETAIL_MAX_CHARS = 300
_THINK_BLOCK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL | re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    # True when the server sent no usage and the counts are a chars/4 estimate.
    estimated: bool = False


@dataclass(frozen=True)
class Completion:
    text: str
    usage: Usage
    model: str
    finish_reason: str | None


class Reasoner(Protocol):
    model_id: str

    def complete(self, messages: Sequence[Message]) -> Completion: ...


def strip_thinking(text: str) -> str:
    """Drop ``<think>...</think>`` reasoning and trim whitespace.

    An unclosed ``<think>`` (answer truncated while reasoning) drops everything after it; a
    stray ``</think>`` without an opening tag (some chat templates open it in the prompt)
    drops everything before it.
    """
    text = _THINK_BLOCK.sub("", text)
    parts = _THINK_CLOSE.split(text)
    return parts[-1].strip()


def estimate_tokens(text: str) -> int:
    """Roughly four characters per token, as a fallback when the server reports no usage."""
    return (len(text) + 3) // 4


def _display_url(url: str) -> str:
    """The URL with any ``user:password@`` replaced, fit for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


def _one_line(text: str) -> str:
    return " ".join(text.split())


class OpenAIReasoner:
    """A chat model behind the OpenAI chat-completions API (OpenAI or a compatible server)."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 600.0,
        max_retries: int = 2,
    ) -> None:
        key = (api_key or "").strip() or os.environ.get("OPENAI_API_KEY", "").strip()
        url = (base_url or "").strip() or os.environ.get("OPENAI_BASE_URL", "").strip()
        if not key and not url:
            raise ConfigError(
                "no API key for the reasoning LLM",
                hint="set OPENAI_API_KEY or pass --api-key; for a local server pass --base-url "
                "instead (Ollama: http://localhost:11434/v1)",
            )
        if not model or not model.strip():
            raise ConfigError("no model name for the reasoning LLM", hint="pass --llm-model")
        if url and not url.lower().startswith(("http://", "https://")):
            raise ConfigError(
                f"base URL {_display_url(url)!r} is not an http(s) URL",
                hint="e.g. --base-url http://localhost:11434/v1 for Ollama",
            )
        if not timeout > 0:
            raise ConfigError(f"LLM timeout must be positive, got {timeout}")
        if max_retries < 0:
            raise ConfigError(f"LLM max retries must be 0 or more, got {max_retries}")

        self.model_id: str = model.strip()
        self.base_url: str | None = url.rstrip("/") or None
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        # Kept only to scrub it from server messages; never shown.
        self._secret = key
        self._where = _display_url(self.base_url) if self.base_url else "OpenAI"
        self._local = self.base_url is not None

        import openai

        self._openai = openai
        self._client: OpenAI = openai.OpenAI(
            api_key=key or PLACEHOLDER_API_KEY,
            base_url=self.base_url or OPENAI_BASE_URL,
            timeout=self.timeout,
            max_retries=self.max_retries,
        )

    def __repr__(self) -> str:
        return f"OpenAIReasoner(model={self.model_id!r}, base_url={self._where!r})"

    # -- the call --------------------------------------------------------------------------

    def complete(self, messages: Sequence[Message]) -> Completion:
        payload: list[Any] = [dict(m) for m in messages]
        started = time.monotonic()
        try:
            response = self._client.chat.completions.create(model=self.model_id, messages=payload)
        except self._openai.OpenAIError as exc:
            raise self._map_error(exc) from None
        except ValueError:  # a 200 whose body claims to be JSON but is not
            raise self._error(
                "the server sent a response that is not valid JSON",
                hint="is this an OpenAI-compatible endpoint? the base URL usually ends in /v1",
            ) from None
        completion = self._parse(response, payload)
        log.debug(
            "LLM %s at %s answered in %.1f s: %d prompt + %d completion tokens%s, finish=%s",
            self.model_id,
            self._where,
            time.monotonic() - started,
            completion.usage.prompt_tokens,
            completion.usage.completion_tokens,
            " (estimated)" if completion.usage.estimated else "",
            completion.finish_reason,
        )
        return completion

    def _parse(self, response: Any, payload: Sequence[Message]) -> Completion:
        try:
            choice = response.choices[0]
            raw = choice.message.content
            finish_reason = choice.finish_reason
        except (AttributeError, IndexError, KeyError, TypeError):
            raise self._error(
                "the server sent a response without an answer (no choices[0].message)",
                hint="is this an OpenAI-compatible chat-completions endpoint?",
            ) from None
        raw = raw if isinstance(raw, str) else ""
        finish_reason = finish_reason if isinstance(finish_reason, str) else None
        text = strip_thinking(raw)
        if not text:
            if finish_reason == "length":
                hint = (
                    "the model used its whole output budget (a reasoning model may spend it all "
                    "thinking): raise the server's context/output limit or use another model"
                )
            else:
                hint = "the model returned no text; try again or use another model"
            raise self._error(f"empty answer (finish_reason={finish_reason})", hint=hint)

        usage = getattr(response, "usage", None)
        prompt_tokens = getattr(usage, "prompt_tokens", None)
        completion_tokens = getattr(usage, "completion_tokens", None)
        if isinstance(prompt_tokens, int) and isinstance(completion_tokens, int):
            parsed = Usage(prompt_tokens, completion_tokens)
        else:
            prompt_text = "\n".join(str(m.get("content", "")) for m in payload)
            parsed = Usage(estimate_tokens(prompt_text), estimate_tokens(raw), estimated=True)
        model = getattr(response, "model", None)
        return Completion(
            text=text,
            usage=parsed,
            model=model if isinstance(model, str) and model else self.model_id,
            finish_reason=finish_reason,
        )

    # -- errors ----------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        if len(self._secret) >= 4:
            text = text.replace(self._secret, "***")
        return _one_line(text)

    def _error(
        self, what: str, *, hint: str, cls: type[ReasonerError] = ReasonerError
    ) -> ReasonerError:
        message = self._scrub(f"{self._where}, model {self.model_id!r}: {what}")
        return cls(message, hint=self._scrub(hint))

    def _detail(self, exc: Any) -> str:
        """The server's own error message, shortened to one line."""
        body = getattr(exc, "body", None)
        detail: Any = None
        if isinstance(body, dict):
            inner = body.get("error", body)
            detail = inner.get("message") if isinstance(inner, dict) else inner
        elif isinstance(body, str):
            detail = body
        if not detail:
            detail = getattr(exc, "message", None) or str(exc)
        detail = self._scrub(str(detail))
        if len(detail) > _DETAIL_MAX_CHARS:
            detail = detail[: _DETAIL_MAX_CHARS - 3] + "..."
        return detail

    def _map_error(self, exc: Exception) -> ReasonerError:
        oa = self._openai
        attempts = f" after {self.max_retries + 1} attempts" if self.max_retries else ""
        server_hint = (
            "is the server running and --base-url right? Ollama: `ollama serve`, "
            "http://localhost:11434/v1"
            if self._local
            else "check your network connection and https://status.openai.com"
        )
        if isinstance(exc, oa.APITimeoutError):
            return self._error(
                f"no answer within {self.timeout:g} s{attempts}",
                hint="raise --timeout, use a faster model, or shorten the video's text",
            )
        if isinstance(exc, oa.APIConnectionError):
            return self._error(f"cannot connect{attempts}", hint=server_hint)
        if isinstance(exc, oa.APIStatusError):
            code = exc.status_code
            detail = self._detail(exc)
            if isinstance(exc, oa.AuthenticationError):
                return self._error(
                    f"authentication failed (HTTP {code}): {detail}",
                    hint="check OPENAI_API_KEY or --api-key"
                    if not self._local
                    else "this server wants an API key: set OPENAI_API_KEY or pass --api-key",
                    cls=ReasonerAuthError,
                )
            if isinstance(exc, oa.PermissionDeniedError):
                return self._error(
                    f"permission denied (HTTP {code}): {detail}",
                    hint="the key has no access to this model; check its project and limits",
                    cls=ReasonerAuthError,
                )
            if isinstance(exc, oa.NotFoundError):
                return self._error(
                    f"model or endpoint not found (HTTP {code}): {detail}",
                    hint="check --llm-model and that --base-url ends in /v1; GET /v1/models "
                    "lists the models (Ollama: `ollama pull MODEL`)",
                    cls=ReasonerAuthError,
                )
            if isinstance(exc, oa.RateLimitError):
                return self._error(
                    f"rate limited or out of quota (HTTP {code}){attempts}: {detail}",
                    hint="wait and retry, or check the account's quota and billing",
                )
            if code >= 500:
                return self._error(
                    f"server error (HTTP {code}){attempts}: {detail}",
                    hint="retry later; for a local server check its log (out of memory?)",
                )
            return self._error(
                f"request rejected (HTTP {code}): {detail}",
                hint="the prompt may exceed the model's context window, or the server rejects "
                "a parameter",
            )
        if isinstance(exc, oa.APIResponseValidationError):
            return self._error(
                "the server sent a response the client could not read",
                hint="is this an OpenAI-compatible endpoint? the base URL usually ends in /v1",
            )
        return self._error(
            f"request failed: {type(exc).__name__}: {self._detail(exc)}", hint=server_hint
        )


REASONERS: dict[str, Callable[..., Reasoner]] = {"openai": OpenAIReasoner}


def create_reasoner(name: str, **kwargs: Any) -> Reasoner:
    """Build the reasoner registered as ``name`` (see ``REASONERS``)."""
    factory = REASONERS.get(name.strip().lower())
    if factory is None:
        raise ConfigError(
            f"unknown reasoner {name!r}", hint=f"use one of: {', '.join(sorted(REASONERS))}"
        )
    return factory(**kwargs)
