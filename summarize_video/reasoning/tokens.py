"""Token counts for budgeting requests to the reasoning LLM and for usage a server omits.

OpenAI model names are counted with ``tiktoken`` (the model's own encoding, ``o200k_base`` for
names tiktoken does not know but that look like OpenAI's) when its BPE table is already in
tiktoken's cache (``$TIKTOKEN_CACHE_DIR``, else ``$DATA_GYM_CACHE_DIR``, else
``<tmp>/data-gym-cache``) with the right SHA-256. This module never makes tiktoken download
it (a run must not depend on the network, and tiktoken deletes and refetches a bad file): to
get exact counts, load the encoding once yourself, e.g.
``python -c "import tiktoken; tiktoken.get_encoding('o200k_base')"``. Otherwise, and for every
other model (local models have their own tokenizers), counts are a conservative estimate from
the characters, see ``estimate_tokens``. ``is_exact`` says which.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import tempfile
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Per OpenAI's cookbook "How to count tokens with tiktoken" (num_tokens_from_messages): every
# message costs 3 tokens of framing (<|start|>{role}\n{content}<|end|>) on top of its values,
# a ``name`` field 1 more, and every reply is primed with <|start|>assistant<|message|>: 3.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3

# The estimate (not measured against every tokenizer: it is meant to over-count):
# - every digit 1 token: Qwen, Mistral and Llama-2 tokenizers split numbers into single
#   digits, and timelines are full of them (stamps, numbers in captions and speech);
# - other ASCII 3.3 characters per token: BPE vocabularies of 32k-200k average about 4 on
#   English prose, less on short words and punctuation ("see:", "say:");
# - every other character 1 token per 2 UTF-8 bytes: CJK ~1.5 tokens per character, which
#   byte-fallback tokenizers reach.
# Over-counting costs an extra window; under-counting overflows the context, which some
# servers (Ollama) truncate silently.
ASCII_CHARS_PER_TOKEN = 3.3
NON_ASCII_BYTES_PER_TOKEN = 2.0

# The encodings worth having, with the source URL tiktoken caches them under (the cache file
# is named by the URL's SHA-1) and tiktoken's own expected SHA-256 (tiktoken_ext).
_BPE_FILES = {
    "o200k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
    "cl100k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
}

# Context windows (prompt + output tokens) by model-name prefix, the more specific first.
# Deliberately the common floor of each family: gpt-4.1 (1M) and gpt-5 (400k) and the o-series
# (200k) take more, and --context-tokens says so; a smaller window only means more, cheaper
# requests. Unknown models (local servers) get 8192: Ollama's own default is smaller still
# (2048 or 4096 by version) and it truncates longer prompts silently, so set its num_ctx
# and pass the same value as --context-tokens.
CONTEXT_WINDOWS: tuple[tuple[str, int], ...] = (
    ("gpt-4o", 128_000),
    ("gpt-4.1", 128_000),
    ("gpt-4.5", 128_000),
    ("gpt-4-turbo", 128_000),
    ("gpt-4-32k", 32_768),
    ("gpt-4", 8_192),
    ("gpt-3.5-turbo", 16_385),
    ("gpt-5", 128_000),
    ("chatgpt-4o", 128_000),
    ("o1", 128_000),
    ("o3", 128_000),
    ("o4", 128_000),
)
DEFAULT_CONTEXT_TOKENS = 8_192

_NO_DIGITS = str.maketrans("", "", "0123456789")
_lock = threading.Lock()
_encodings: dict[str, Any] = {}  # encoding name -> tiktoken Encoding, or None when unloadable


def _bare(model: str) -> str:
    """``openai/gpt-4o`` or ``GPT-4o`` -> ``gpt-4o``: routers prefix the provider."""
    return model.strip().lower().rsplit("/", 1)[-1]


def default_context_tokens(model: str) -> int:
    """The context window assumed for ``model`` when none is configured (see the table)."""
    name = _bare(model)
    for prefix, tokens in CONTEXT_WINDOWS:
        if name.startswith(prefix):
            return tokens
    return DEFAULT_CONTEXT_TOKENS


def _encoding_name(model: str) -> str | None:
    """tiktoken's encoding for an OpenAI model name, None for anything else."""
    name = _bare(model)
    try:
        import tiktoken
    except ImportError:
        return None
    try:
        return tiktoken.encoding_name_for_model(name)
    except KeyError:
        if any(name.startswith(p) for p, _ in CONTEXT_WINDOWS):
            return "o200k_base"  # a newer OpenAI model than this tiktoken knows
        return None


def _tiktoken_cache() -> Path | None:
    """tiktoken's cache folder, by tiktoken's own rules; None when caching is disabled."""
    for name in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if name in os.environ:
            value = os.environ[name]
            return Path(value) if value else None
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def _load(encoding_name: str) -> Any:
    """The tiktoken encoding if its table is already cached and intact, else None."""
    cache = _tiktoken_cache()
    key = f"{encoding_name}@{cache}"
    with _lock:
        if key in _encodings:
            return _encodings[key]
        encoding = None
        if cache is not None and encoding_name in _BPE_FILES:
            url, sha256 = _BPE_FILES[encoding_name]
            path = cache / hashlib.sha1(url.encode()).hexdigest()
            try:
                if hashlib.sha256(path.read_bytes()).hexdigest() == sha256:
                    import tiktoken

                    encoding = tiktoken.get_encoding(encoding_name)
            except Exception as exc:  # missing or unreadable file, no tiktoken
                log.debug("tiktoken encoding %s not available offline: %s", encoding_name, exc)
        if encoding is None:
            log.info("token counts for %s are estimates (its tiktoken table is not cached)",
                     encoding_name)
        _encodings[key] = encoding
        return encoding


def _encoding(model: str) -> Any:
    name = _encoding_name(model)
    return _load(name) if name else None


def is_exact(model: str) -> bool:
    """True when counts for ``model`` come from its real tokenizer, False for estimates."""
    return _encoding(model) is not None


def estimate_tokens(text: str) -> int:
    """Conservative token count from characters alone (see ``ASCII_CHARS_PER_TOKEN``)."""
    if text.isascii():
        digits = len(text) - len(text.translate(_NO_DIGITS))
        return math.ceil(digits + (len(text) - digits) / ASCII_CHARS_PER_TOKEN)
    digits = ascii_chars = other_bytes = 0
    for ch in text:
        if ch < "\x80":
            if "0" <= ch <= "9":
                digits += 1
            else:
                ascii_chars += 1
        else:
            other_bytes += len(ch.encode("utf-8", "surrogatepass"))
    return math.ceil(digits + ascii_chars / ASCII_CHARS_PER_TOKEN
                     + other_bytes / NON_ASCII_BYTES_PER_TOKEN)


def count_tokens(text: str, model: str) -> int:
    """Tokens of ``text`` for ``model``: exact with tiktoken, else ``estimate_tokens``."""
    encoding = _encoding(model)
    if encoding is None:
        return estimate_tokens(text)
    return len(encoding.encode(text, disallowed_special=()))


def count_messages(messages: Iterable[Mapping[str, Any]], model: str) -> int:
    """Prompt tokens of a chat request, framing included (OpenAI cookbook formula)."""
    total = REPLY_PRIMING_TOKENS
    for message in messages:
        total += TOKENS_PER_MESSAGE
        for key, value in message.items():
            total += count_tokens(str(value), model)
            if key == "name":
                total += TOKENS_PER_NAME
    return total


def truncate_to_tokens(text: str, limit: int, model: str, marker: str = " [...]") -> str:
    """``text`` cut (at a character) so that it plus ``marker`` counts at most ``limit`` tokens.

    ``text`` itself when it fits. Binary search over the length: exact for any tokenizer.
    """
    if count_tokens(text, model) <= limit:
        return text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count_tokens(text[:mid].rstrip() + marker, model) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + marker
