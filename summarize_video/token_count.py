"""Token estimates for servers that report no ``usage``: tiktoken when it works offline.

tiktoken ships its code but not its BPE tables: ``tiktoken.get_encoding`` downloads them from
openaipublic.blob.core.windows.net on first use and keeps them in ``$TIKTOKEN_CACHE_DIR``
(or ``$DATA_GYM_CACHE_DIR``, else ``<tmp>/data-gym-cache``). This module never triggers that
download: it uses an encoding only when its file is already in that cache with the right
SHA-256 (a wrong file would make tiktoken delete it and fetch it again). Otherwise, and for
any failure, counts fall back to four characters per token. Either way the counts are an
estimate (``Usage.estimated``): the model may not even use an OpenAI tokenizer.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .reasoner_base import Message, estimate_tokens

log = logging.getLogger(__name__)

# The encodings worth having, with tiktoken's own source URLs and hashes (tiktoken_ext).
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
FALLBACK_ENCODING = "o200k_base"
# OpenAI's chat format adds a few tokens around each message and primes the reply.
_TOKENS_PER_MESSAGE = 3
_REPLY_PRIMING = 3


def _cache_dir() -> Path | None:
    """tiktoken's cache folder, by tiktoken's own rules; None when caching is disabled."""
    for name in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if name in os.environ:
            value = os.environ[name]
            return Path(value) if value else None
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def encoding_name_for(model: str) -> str:
    """tiktoken's encoding for an OpenAI model name, else ``o200k_base``."""
    name = model.rsplit("/", 1)[-1]  # "openai/gpt-4o" as routers spell it
    try:
        import tiktoken

        return str(tiktoken.encoding_name_for_model(name))
    except Exception:  # unknown model name, or tiktoken not installed
        return FALLBACK_ENCODING


@functools.lru_cache(maxsize=8)
def _load_offline(name: str, cache_dir: Path | None) -> Any:
    if cache_dir is None or name not in _BPE_FILES:
        return None
    url, sha256 = _BPE_FILES[name]
    path = cache_dir / hashlib.sha1(url.encode()).hexdigest()
    try:
        if hashlib.sha256(path.read_bytes()).hexdigest() != sha256:
            log.debug("tiktoken cache file %s has the wrong hash: not used", path)
            return None
        import tiktoken

        return tiktoken.get_encoding(name)
    except Exception as exc:  # missing file, no tiktoken, unreadable table
        log.debug("tiktoken encoding %s not available offline (%s): estimating", name, exc)
        return None


def offline_encoding(model: str) -> Any:
    """The tiktoken ``Encoding`` for ``model`` if it loads without the network, else None."""
    return _load_offline(encoding_name_for(model), _cache_dir())


def count_text_tokens(text: str, model: str) -> int:
    encoding = offline_encoding(model)
    if encoding is None:
        return estimate_tokens(text)
    return len(encoding.encode(text, disallowed_special=()))


def count_prompt_tokens(messages: Sequence[Message], model: str) -> int:
    """Prompt tokens of a chat request: the contents plus the chat format's overhead when a
    real tokenizer is at hand, else chars/4 of the joined contents."""
    encoding = offline_encoding(model)
    contents = [str(m.get("content", "")) for m in messages]
    if encoding is None:
        return estimate_tokens("\n".join(contents))
    total = sum(len(encoding.encode(c, disallowed_special=())) for c in contents)
    return total + _TOKENS_PER_MESSAGE * len(contents) + _REPLY_PRIMING
