"""What every reasoning backend shares: messages, completions, usage, ``<think>`` stripping.

No third-party import here: both the OpenAI-client backend (``reasoning``) and the local
transformers backend (``local_reasoner``) build on it without importing each other.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ..errors import ConfigError
from ..model_refs import ClassNameModelId

Message = dict[str, str]

# Output budget when the caller names none: enough for a long summary of a long video.
DEFAULT_MAX_OUTPUT_TOKENS = 4096
# An answer that is empty because the budget ran out (finish_reason "length") is asked once
# more with this many times the budget; a reasoning model may have spent it all thinking.
LENGTH_RETRY_FACTOR = 4

_THINK_BLOCK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL | re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    # True when the server sent no usage and the counts are an estimate (tiktoken or chars/4).
    estimated: bool = False


@dataclass(frozen=True)
class Completion:
    text: str
    usage: Usage
    model: str
    finish_reason: str | None
    # True when the answer was asked for as a JSON object and the backend enforced it.
    json_mode_used: bool = False


class Reasoner(Protocol):
    """A chat model that answers a list of messages with one completion. ``model_id`` names
    the model in results, prices and provenance; a subclass that sets none gets its class
    name. ``complete`` may take only ``messages``: the budget and JSON mode are then not
    passed."""

    model_id: str = ClassNameModelId()  # type: ignore[assignment]
    # Which registered backend this is: "openai" or "transformers" (one's own: none).
    backend: str

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_output_tokens: int | None = None,
        json_mode: bool = False,
    ) -> Completion: ...


def check_output_budget(max_output_tokens: int | None) -> None:
    """A ``ConfigError`` for an output-token budget below 1 (None: the backend's default)."""
    if max_output_tokens is not None and max_output_tokens < 1:
        raise ConfigError(f"LLM output budget must be positive, got {max_output_tokens}")


def strip_thinking(text: str) -> str:
    """Drop ``<think>...</think>`` reasoning and trim whitespace.

    An unclosed ``<think>`` (answer truncated while reasoning) drops everything after it; a
    stray ``</think>`` without an opening tag (some chat templates open it in the prompt)
    drops everything before it.
    """
    text = _THINK_BLOCK.sub("", text)
    parts = _THINK_CLOSE.split(text)
    return parts[-1].strip()


def fold_system_messages(messages: Sequence[Message]) -> list[Message]:
    """System and developer messages merged into the first user message (for models or
    templates that know neither role); the order of everything else is kept."""
    instructions = [m.get("content", "") for m in messages
                    if m.get("role") in ("system", "developer")]
    rest = [dict(m) for m in messages if m.get("role") not in ("system", "developer")]
    if not instructions:
        return rest
    preamble = "\n\n".join(c for c in instructions if c)
    for message in rest:
        if message.get("role") == "user":
            message["content"] = f"{preamble}\n\n{message.get('content', '')}".strip()
            return rest
    return [{"role": "user", "content": preamble}, *rest]


def developer_as_system(messages: Sequence[Message]) -> list[Message]:
    """``developer`` messages (OpenAI's newer name) sent as ``system`` ones."""
    return [{**m, "role": "system"} if m.get("role") == "developer" else dict(m)
            for m in messages]
