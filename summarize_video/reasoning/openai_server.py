"""The reasoning LLM reached through the official ``openai`` client.

Works with OpenAI itself and with any OpenAI-compatible server (Ollama, vLLM, LM Studio,
llama.cpp). Importing this module is cheap: ``openai`` is imported when a reasoner is built.

Requests adapt to the server (see ``openai_compat``): a 400 that names a parameter the server
rejects is answered by one retry without it, and the reasoner remembers. Transient failures
(connection errors, timeouts, 408/409/429/5xx) are retried by the ``openai`` client itself,
``max_retries`` times, with exponential backoff that honours ``Retry-After`` and
``retry-after-ms`` (up to two minutes); 400/401/403/404 are never retried.

The API key is a secret: it never appears in a message, a repr or a log line.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, ReasonerAuthError, ReasonerContextError, ReasonerError
from ..redaction import redact_text, redact_url, url_secrets
from .base import (
    DEFAULT_MAX_OUTPUT_TOKENS,
    LENGTH_RETRY_FACTOR,
    Completion,
    Message,
    Usage,
    check_output_budget,
    strip_thinking,
)
from .request_shape import (
    REASONING_MAX_OUTPUT_TOKENS,
    RequestShape,
    context_overflow,
    is_reasoning_model,
    rejected_by,
)
from .tokens import count_messages, count_tokens

if TYPE_CHECKING:
    from openai import OpenAI

log = logging.getLogger(__name__)

OPENAI_BASE_URL = "https://api.openai.com/v1"
# Sent when a local server needs no key: the client insists on one, the server ignores it.
PLACEHOLDER_API_KEY = "not-needed"
# Sampling temperature sent to models that accept one: low, for a faithful summary.
DEFAULT_TEMPERATURE = 0.2
_DETAIL_MAX_CHARS = 300
# Rejections worth a reshaped retry: at most one per parameter, and never more than these.
_MAX_ADAPTATIONS = 6


def _one_line(text: str) -> str:
    return " ".join(text.split())


class OpenAIReasoner:
    """A chat model behind the OpenAI chat-completions API (OpenAI or a compatible server).

    ``max_output_tokens``: the default output budget (None: 25,000 for OpenAI reasoning model
    names, 4,096 otherwise). ``temperature``: sent to models that take one (None: never).
    ``timeout`` and ``max_retries`` go to the ``openai`` client, which retries transient
    failures itself.
    """

    backend = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 600.0,
        max_retries: int = 2,
        max_output_tokens: int | None = None,
        temperature: float | None = DEFAULT_TEMPERATURE,
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
                f"base URL {redact_url(url)!r} is not an http(s) URL",
                hint="e.g. --base-url http://localhost:11434/v1 for Ollama",
            )
        if not timeout > 0:
            raise ConfigError(f"LLM timeout must be positive, got {timeout}")
        if max_retries < 0:
            raise ConfigError(f"LLM max retries must be 0 or more, got {max_retries}")
        check_output_budget(max_output_tokens)

        self.model_id: str = model.strip()
        self.base_url: str | None = url.rstrip("/") or None
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.temperature = temperature
        if max_output_tokens is None:
            reasoning = is_reasoning_model(self.model_id)
            max_output_tokens = (REASONING_MAX_OUTPUT_TOKENS if reasoning
                                 else DEFAULT_MAX_OUTPUT_TOKENS)
        self.max_output_tokens = int(max_output_tokens)
        # Kept only to scrub them from server messages; never shown.
        self._secrets = (key, *url_secrets(self.base_url))
        self._where = redact_url(self.base_url) if self.base_url else "OpenAI"
        self._local = self.base_url is not None
        official = self.base_url is None or self.base_url.startswith(OPENAI_BASE_URL)
        # What this server takes; rejections change it for all later calls.
        self.shape = RequestShape.for_model(self.model_id, official_openai=official)

        import openai

        from .transport import http_client

        self._openai = openai
        self._client: OpenAI = openai.OpenAI(
            api_key=key or PLACEHOLDER_API_KEY,
            base_url=self.base_url or OPENAI_BASE_URL,
            timeout=self.timeout,
            max_retries=self.max_retries,
            http_client=http_client(self.timeout),
        )

    def __repr__(self) -> str:
        return f"OpenAIReasoner(model={self.model_id!r}, base_url={self._where!r})"

    # -- the call --------------------------------------------------------------------------

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_output_tokens: int | None = None,
        json_mode: bool = False,
    ) -> Completion:
        """One answer to ``messages``; ``json_mode`` asks for a JSON object where the server
        supports it (``Completion.json_mode_used`` says whether it did)."""
        check_output_budget(max_output_tokens)
        payload: list[Message] = [dict(m) for m in messages]
        budget = max_output_tokens or self.max_output_tokens
        started = time.monotonic()
        adapted: set[str] = set()
        grown = False
        while True:
            request = self.shape.request(
                payload, budget=budget, temperature=self.temperature, json_mode=json_mode
            )
            response = self._send(request, adapted)
            if response is None:  # rejected, shape adapted: ask again
                continue
            raw, finish_reason = self._answer_of(response)
            if not strip_thinking(raw) and finish_reason == "length" and not grown:
                grown = True
                if self._grow_budget(request, budget):
                    continue
            completion = self._completion(response, raw, finish_reason, request)
            break
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

    def _grow_budget(self, request: dict[str, Any], budget: int) -> bool:
        """After an empty answer cut at the budget: a larger budget for this and later calls,
        True when there is one to ask with (a budget was sent and the server allows more)."""
        param = self.shape.budget_param
        if param is None or param not in request:
            return False
        self.shape.budget_scale *= LENGTH_RETRY_FACTOR
        if self.shape.budget(budget) <= request[param]:
            self.shape.budget_scale //= LENGTH_RETRY_FACTOR
            return False
        log.warning(
            "LLM %s at %s spent its whole output budget (%d tokens) without an answer: "
            "asking again with %d", self.model_id, self._where, request[param],
            self.shape.budget(budget),
        )
        return True

    def _send(self, request: dict[str, Any], adapted: set[str]) -> Any:
        """The response, or None after a rejection the shape adapted to."""
        oa = self._openai
        try:
            return self._client.chat.completions.create(model=self.model_id, **request)
        except (oa.BadRequestError, oa.UnprocessableEntityError) as exc:
            detail = f"{self._detail(exc)} {getattr(exc, 'message', '')}"
            over = context_overflow(detail, getattr(exc, "code", None),
                                    getattr(exc, "body", None))
            if over is not None:
                raise self._context_error(over.limit, over.prompt_tokens) from None
            param = getattr(exc, "param", None)
            what = rejected_by(detail, param if isinstance(param, str) else None, request)
            change = None
            if what is not None and len(adapted) < _MAX_ADAPTATIONS:
                key = f"{what}:{self.shape.budget_param}" if "tokens" in what else what
                if key not in adapted:
                    adapted.add(key)
                    change = self.shape.adapt(what, detail)
            if change is None:
                raise self._map_error(exc) from None
            log.info("LLM server at %s, model %s: %s (remembered)", self._where,
                     self.model_id, change)
            return None
        except oa.OpenAIError as exc:
            raise self._map_error(exc) from None
        except (ValueError, RecursionError):  # a 200 whose body is not JSON (or nested
            # deeper than any parser goes)
            raise self._error(
                "the server sent a response that is not valid JSON",
                hint="is this an OpenAI-compatible endpoint? the base URL usually ends in /v1",
            ) from None

    def _answer_of(self, response: Any) -> tuple[str, str | None]:
        """The raw content and finish reason. ``reasoning_content`` is never read."""
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
        return raw, finish_reason if isinstance(finish_reason, str) else None

    def _completion(
        self, response: Any, raw: str, finish_reason: str | None, request: dict[str, Any]
    ) -> Completion:
        text = strip_thinking(raw)
        if not text:
            if finish_reason == "length":
                hint = (
                    "the model used its whole output budget even after a larger retry (a "
                    "reasoning model may spend it all thinking): raise the budget or the "
                    "server's context/output limit, or use another model"
                )
                what = "empty answer: output budget exhausted (finish_reason=length)"
            else:
                hint = "the model returned no text; try again or use another model"
                what = f"empty answer (finish_reason={finish_reason})"
            raise self._error(what, hint=hint)
        if finish_reason == "length":
            log.warning("LLM %s at %s: answer cut at the output budget", self.model_id,
                        self._where)

        usage = getattr(response, "usage", None)
        prompt_tokens = getattr(usage, "prompt_tokens", None)
        completion_tokens = getattr(usage, "completion_tokens", None)
        if isinstance(prompt_tokens, int) and isinstance(completion_tokens, int):
            parsed = Usage(prompt_tokens, completion_tokens)
        else:
            parsed = Usage(
                count_messages(request["messages"], self.model_id),
                count_tokens(raw, self.model_id),
                estimated=True,
            )
        model = getattr(response, "model", None)
        return Completion(
            text=text,
            usage=parsed,
            model=model if isinstance(model, str) and model else self.model_id,
            finish_reason=finish_reason,
            json_mode_used="response_format" in request,
        )

    # -- errors ----------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        return _one_line(redact_text(text, self._secrets))

    def _error(
        self, what: str, *, hint: str, cls: type[ReasonerError] = ReasonerError
    ) -> ReasonerError:
        message = self._scrub(f"{self._where}, model {self.model_id!r}: {what}")
        return cls(message, hint=self._scrub(hint))

    def _context_error(self, limit: int | None,
                       prompt_tokens: int | None = None) -> ReasonerContextError:
        window = f" of {limit} tokens" if limit else ""
        if prompt_tokens:
            window += f" (the prompt is {prompt_tokens} tokens by the server's count)"
        err = self._error(
            f"the request is over the model's context window{window}",
            hint=f"pass --context-tokens {limit}" if limit else
            "pass --context-tokens with the model's context window (the server's setting)",
            cls=ReasonerContextError,
        )
        assert isinstance(err, ReasonerContextError)
        err.limit = limit
        err.prompt_tokens = prompt_tokens
        return err

    def _detail(self, exc: Any) -> str:
        """The server's own error message (OpenAI's ``error.message``, a plain ``error``
        string, FastAPI's ``detail``), redacted, on one line, shortened."""
        detail = _server_message(getattr(exc, "body", None))
        if not detail:
            detail = getattr(exc, "message", None) or str(exc)
        detail = self._scrub(str(detail))
        if len(detail) > _DETAIL_MAX_CHARS:
            detail = detail[: _DETAIL_MAX_CHARS - 3] + "..."
        return detail

    def _map_error(self, exc: Exception) -> ReasonerError:
        oa = self._openai
        refused = _refused(exc)
        if refused is not None:
            return self._error(str(refused), hint=refused.hint)
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
            if _cut_short(exc):
                return self._error(
                    f"the connection was cut before the answer was complete{attempts}",
                    hint="retry; for a local server check its log (crashed? out of memory?), "
                    "and for a proxy its timeout",
                )
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
            if isinstance(exc, oa.NotFoundError) or _UNKNOWN_MODEL.search(detail):
                what = "model or endpoint not found" if code == 404 else \
                    "the server does not serve this model"
                return self._error(
                    f"{what} (HTTP {code}): {detail}",
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
                hint="the server's message above says why; check --llm-model, --base-url and "
                "the server's settings",
            )
        if isinstance(exc, oa.APIResponseValidationError):
            return self._error(
                "the server sent a response the client could not read",
                hint="is this an OpenAI-compatible endpoint? the base URL usually ends in /v1",
            )
        return self._error(
            f"request failed: {type(exc).__name__}: {self._detail(exc)}", hint=server_hint
        )


# How servers say they do not serve the model asked for, whatever the status code: OpenAI and
# vLLM "The model `x` does not exist", Ollama "model 'x' not found", a server pinned to one
# model ("Server is pinned to 'a'; requested 'b'"), "unknown model", "no such model".
_UNKNOWN_MODEL = re.compile(
    r"\bmodel\b[^.;]{0,80}\b(?:does not exist|not found|is not (?:available|served|loaded))"
    r"|\b(?:unknown|no such|invalid) model\b|\bpinned to\b", re.I
)


def _server_message(body: Any) -> str | None:
    """The message in an error body: ``{"error": {"message"}}``, ``{"error": "..."}``,
    ``{"detail": "..."}`` (FastAPI, ``detail`` may be a list), or a plain string."""
    if isinstance(body, str):
        return body
    if not isinstance(body, dict):
        return None
    inner = body.get("error", body)
    if isinstance(inner, str):
        return inner
    if not isinstance(inner, dict):
        return None
    for key in ("message", "detail", "msg"):
        value = inner.get(key)
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, list) and value:
            return "; ".join(str(v.get("msg", v)) if isinstance(v, dict) else str(v)
                             for v in value)
    return None


def _refused(exc: BaseException) -> Any:
    """The transport's refusal behind ``exc`` (too large, redirected, odd encoding), or None."""
    from .transport import refusal_of

    return refusal_of(exc)


_CUT_SHORT = frozenset({"RemoteProtocolError", "ReadError", "IncompleteRead"})


def _cut_short(exc: BaseException) -> bool:
    """Whether a connection error came after the server had started to answer (a response
    cut mid-body, a reset read), rather than before (refused, unreachable, name unknown)."""
    seen: BaseException | None = exc
    for _ in range(8):
        seen = seen.__cause__ or seen.__context__ if seen is not None else None
        if seen is None:
            return False
        if type(seen).__name__ in _CUT_SHORT:  # the HTTP library's own error classes
            return True
    return False
