"""How a chat request is shaped for one model and server, and how a 400 reshapes it.

Servers disagree about parameters. OpenAI's reasoning models (o1, o3, o4, gpt-5 families)
reject ``temperature`` and ``max_tokens`` and want ``max_completion_tokens``; many
OpenAI-compatible servers lack ``max_completion_tokens``, ``response_format`` or the
``developer`` role. A ``RequestShape`` starts from what the model name suggests, and each
rejection that names the offending parameter changes it for good (the reasoner keeps it), so
only the first request pays for a wrong guess.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .base import Message, developer_as_system, fold_system_messages

# Model names of OpenAI's reasoning families, with or without a router prefix ("openai/o3").
_REASONING_MODEL = re.compile(r"^(?:[\w.-]+/)?(?:o\d+(?:$|[-_.])|gpt-5)", re.IGNORECASE)
# A budget rejected as too big names the ceiling: "supports at most 16384 completion tokens".
_AT_MOST = re.compile(r"at most (\d+)(?: \w+)? tokens", re.IGNORECASE)
# OpenAI's json_object mode insists the prompt mentions JSON: a prompt problem, not a quirk.
_NEEDS_JSON_WORD = re.compile(r"must contain the word\W+json", re.IGNORECASE)
# Output budget for reasoning models, which spend part of it thinking (OpenAI suggests
# reserving about 25,000 tokens for reasoning and answer).
REASONING_MAX_OUTPUT_TOKENS = 25_000

TOKEN_PARAMS = ("max_tokens", "max_completion_tokens")
PARAMS = ("temperature", *TOKEN_PARAMS, "response_format")
ROLES = ("developer", "system")


def is_reasoning_model(model: str) -> bool:
    """True for names of OpenAI reasoning models (o1, o3-mini, o4-mini, gpt-5, gpt-5-mini...)."""
    return bool(_REASONING_MODEL.match(model.strip()))


@dataclass
class RequestShape:
    """What to send; changed by ``adapt`` and kept by the reasoner across calls."""

    # "max_tokens", "max_completion_tokens", or None when the server takes neither.
    budget_param: str | None
    send_temperature: bool
    response_format_ok: bool = True
    developer_role_ok: bool = True
    system_role_ok: bool = True
    # Multiplies the budget after an empty answer cut at the budget.
    budget_scale: int = 1
    # Largest budget the server said it accepts.
    budget_cap: int | None = None
    # Budget parameters the server has rejected.
    rejected_budget_params: set[str] = field(default_factory=set)

    @classmethod
    def for_model(cls, model: str, *, official_openai: bool) -> RequestShape:
        """OpenAI itself takes ``max_completion_tokens`` for every model (``max_tokens`` is
        deprecated there); compatible servers know ``max_tokens`` best. OpenAI's reasoning
        models take only the default temperature, wherever they are served."""
        reasoning = is_reasoning_model(model)
        budget = "max_completion_tokens" if official_openai or reasoning else "max_tokens"
        return cls(budget_param=budget, send_temperature=not reasoning)

    def adaptations(self) -> dict[str, Any]:
        """The non-default choices, for logs and reports."""
        out: dict[str, Any] = {"budget_param": self.budget_param}
        if not self.send_temperature:
            out["temperature"] = "omitted"
        if not self.response_format_ok:
            out["response_format"] = "unsupported"
        if not self.developer_role_ok:
            out["developer_role"] = "sent as system"
        if not self.system_role_ok:
            out["system_role"] = "folded into the first user message"
        if self.budget_scale != 1:
            out["budget_scale"] = self.budget_scale
        if self.budget_cap is not None:
            out["budget_cap"] = self.budget_cap
        return out

    def budget(self, requested: int) -> int:
        value = requested * self.budget_scale
        return min(value, self.budget_cap) if self.budget_cap else value

    def messages(self, messages: Sequence[Message]) -> list[Message]:
        out = [dict(m) for m in messages]
        if not self.system_role_ok:
            return fold_system_messages(out)
        if not self.developer_role_ok:
            return developer_as_system(out)
        return out

    def request(
        self,
        messages: Sequence[Message],
        *,
        budget: int,
        temperature: float | None,
        json_mode: bool,
    ) -> dict[str, Any]:
        """Keyword arguments for ``client.chat.completions.create`` (without ``model``)."""
        kwargs: dict[str, Any] = {"messages": self.messages(messages)}
        if self.budget_param is not None:
            kwargs[self.budget_param] = self.budget(budget)
        if temperature is not None and self.send_temperature:
            kwargs["temperature"] = temperature
        if json_mode and self.response_format_ok:
            kwargs["response_format"] = {"type": "json_object"}
        return kwargs

    def adapt(self, what: str, detail: str) -> str | None:
        """Change the shape after a rejection of ``what``; a line saying what changed, or
        None when nothing more can be changed for it."""
        if what in TOKEN_PARAMS:
            cap = _AT_MOST.search(detail)
            if cap and (self.budget_cap is None or int(cap.group(1)) < self.budget_cap):
                self.budget_cap = max(1, int(cap.group(1)))
                return f"output budget capped at {self.budget_cap} tokens"
            self.rejected_budget_params.add(what)
            other = "max_completion_tokens" if what == "max_tokens" else "max_tokens"
            if other not in self.rejected_budget_params:
                self.budget_param = other
                return f"{what!r} rejected: sending {other!r} instead"
            if self.budget_param is not None:
                self.budget_param = None
                return "no output budget parameter is accepted: sending none"
            return None
        if what == "temperature" and self.send_temperature:
            self.send_temperature = False
            return "'temperature' rejected: sending none"
        if what == "response_format" and self.response_format_ok:
            self.response_format_ok = False
            return "'response_format' rejected: JSON mode off"
        if what == "developer" and self.developer_role_ok:
            self.developer_role_ok = False
            return "role 'developer' rejected: sending it as 'system'"
        if what == "system" and self.system_role_ok:
            self.system_role_ok = False
            return "role 'system' rejected: folding instructions into the user message"
        return None


def _mentions(text: str, word: str) -> int | None:
    """Where ``word`` first appears as a whole identifier in ``text``, or None."""
    match = re.search(rf"(?<![\w.]){re.escape(word)}(?!\w)", text)
    return match.start() if match else None


def rejected_by(detail: str, param: str | None, request: dict[str, Any]) -> str | None:
    """Which adaptable part of ``request`` a 400/422 rejection names, or None.

    ``param`` is the error's ``param`` field when the server sets one (OpenAI does). Else the
    message is searched for the parameters actually sent; the first one named is the
    offender (OpenAI's wording names the alternative second: "Unsupported parameter:
    'max_tokens' ... Use 'max_completion_tokens' instead.").
    """
    sent = [p for p in PARAMS if p in request]
    roles = {m.get("role") for m in request.get("messages", []) if isinstance(m, dict)}
    if "response_format" in sent and _NEEDS_JSON_WORD.search(detail):
        return None
    if param in sent:
        return param
    lowered = detail.lower()
    if "role" in lowered:
        for role in ROLES:
            if role in roles and _mentions(lowered, role) is not None:
                return role
    found = [(pos, p) for p in sent if (pos := _mentions(detail, p)) is not None]
    return min(found)[1] if found else None


# How servers say a request is over the model's context window, and where they name it:
# OpenAI/vLLM "maximum context length is 8192 tokens", llama.cpp "exceeds the available
# context size" (with ``n_ctx`` and ``n_prompt_tokens`` fields, type
# ``exceed_context_size_error``), LM Studio "context length of only 4096 tokens".
_CONTEXT_WORDS = re.compile(
    r"context[ _](?:length|size|window)|maximum context|context_length_exceeded"
    r"|exceed_context_size", re.I
)
_CONTEXT_LIMIT = re.compile(
    r"(?:maximum context length is|context (?:length|size|window) (?:of|is)(?: only)?)"
    r"\s*(\d+)", re.I
)
# The prompt's size by the server's own count: vLLM "(2777 in the messages, 512 in the
# completion)", OpenAI "your messages resulted in 2777 tokens".
_PROMPT_COUNT = re.compile(
    r"(\d+) in the messages|messages resulted in (\d+) tokens|prompt (?:is|has|of) (\d+) "
    r"tokens", re.I
)


@dataclass(frozen=True)
class Overflow:
    """A 400 that says the request is over the context window: the window and the prompt's
    size as the server counts them, where it says."""

    limit: int | None
    prompt_tokens: int | None


def _positive(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 \
        else None


def context_overflow(detail: str, code: object, body: object) -> Overflow | None:
    """An ``Overflow`` when a 400 says the request is over the context window, else None."""
    inner = body.get("error", body) if isinstance(body, dict) else None
    fields = inner if isinstance(inner, dict) else {}
    kind = fields.get("type")
    hit = code == "context_length_exceeded" or kind == "exceed_context_size_error" \
        or bool(_CONTEXT_WORDS.search(detail))
    if not hit:
        return None
    limit = _positive(fields.get("n_ctx"))
    if limit is None and (found := _CONTEXT_LIMIT.search(detail)):
        limit = int(found.group(1))
    prompt = _positive(fields.get("n_prompt_tokens"))
    if prompt is None and (counted := _PROMPT_COUNT.search(detail)):
        prompt = int(next(g for g in counted.groups() if g))
    return Overflow(limit, prompt)
