"""Guards against runaway captions: repetition loops cut back, n-gram bans on new tokens only.

Pure Python; torch is only touched through the tensors a ``generate`` call hands in.
"""

from __future__ import annotations

import string
from typing import Any

# Punctuation ignored when comparing words, so "a man, a man, a man." is seen as one loop.
_PUNCT = string.punctuation + "“”‘’…"
# Separators left dangling when a loop at the very end is cut away.
_DANGLING = ",;:-–—"


def _loop_at(keys: list[str], i: int, min_repeats: int, max_unit: int) -> tuple[int, int] | None:
    """``(unit, end)`` when ``keys[i:]`` starts with a unit repeated ``min_repeats``+ times."""
    n = len(keys)
    for unit in range(1, min(max_unit, (n - i) // min_repeats) + 1):
        j = i + unit
        while j < n and keys[j] == keys[j - unit]:
            j += 1
        copies = (j - i) // unit
        if copies >= min_repeats:
            # Whole copies go; a partial copy goes too when it runs to the end (the token
            # budget cut the loop mid-copy), else it starts the text that follows.
            return unit, (n if j == n else i + copies * unit)
    return None


def cut_repetition(text: str, min_repeats: int = 3, max_unit: int = 16) -> str:
    """Cut each run of a word or word sequence repeated ``min_repeats``+ times back to one.

    Words are compared case- and punctuation-insensitively; the first occurrence is kept as
    written. ``"a dog a dog a dog a"`` -> ``"a dog"``; ``"red red red car"`` -> ``"red car"``.
    """
    if min_repeats < 2:
        raise ValueError(f"min_repeats must be at least 2, got {min_repeats}")
    words = text.split()
    keys = [w.strip(_PUNCT).lower() for w in words]
    out: list[str] = []
    i, cut_to_end = 0, False
    while i < len(words):
        loop = _loop_at(keys, i, min_repeats, max_unit)
        if loop is None:
            out.append(words[i])
            i += 1
            continue
        unit, end = loop
        out.extend(words[i:i + unit])
        i, cut_to_end = end, end == len(words)
    if cut_to_end and out:
        out[-1] = out[-1].rstrip(_DANGLING) or out[-1]
    return " ".join(out)


class NewTokensNoRepeatNGram:
    """Like ``no_repeat_ngram_size``, but over the generated tokens only.

    transformers' built-in ban also counts the prompt of a decoder-only model: a trigram of
    the prompt (or of the speech quoted in it) could then never be written in the caption,
    so a chat VLM could not repeat a name it was told. Rows are independent, so left padding
    and the other rows of a batch do not change what is banned.
    """

    def __init__(self, ngram_size: int, prompt_length: int) -> None:
        if ngram_size < 1:
            raise ValueError(f"ngram_size must be at least 1, got {ngram_size}")
        self.n = ngram_size
        self.prompt_length = prompt_length

    def banned(self, row: list[int]) -> set[int]:
        """Tokens that would complete an n-gram already present in ``row``."""
        n = self.n
        if len(row) < n:
            return set()
        prefix = row[len(row) - n + 1:]
        return {row[k + n - 1] for k in range(len(row) - n + 1) if row[k:k + n - 1] == prefix}

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        for b, row in enumerate(input_ids[:, self.prompt_length:].tolist()):
            ban = self.banned(row)
            if ban:
                scores[b, sorted(ban)] = -float("inf")
        return scores
