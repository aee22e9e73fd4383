"""One-sentence captions: where the first sentence of a caption ends, a stopping criterion that
ends generation there, and the trim for a caption the token cap cut mid-sentence.

Pure Python; torch is only touched through the tensors a ``generate`` call hands in.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

# A sentence ends at ., ! or ? (a run of them), then closing quotes or brackets, then space.
_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s)")
# Words before a "." that do not end a sentence ("Mr. Smith", "e.g. a chart").
ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "st", "jr", "sr", "prof", "vs", "etc",
                           "e.g", "i.e", "no", "inc", "ltd", "co", "approx", "fig"})


def _ends_sentence(text: str, stop: int) -> bool:
    """Whether the terminator run at ``text[stop:]`` closes a sentence (not "3.", "Mr.", "J.")."""
    said = text[:stop]
    if not any(ch.isalpha() for ch in said):
        return False  # nothing said yet, or "1." opening a list
    if text[stop] != ".":
        return True
    word = said.split()[-1].strip("\"'“‘([").lower() if said.strip() else ""
    return not (word in ABBREVIATIONS or word.isdigit() or (len(word) == 1 and word.isalpha()))


def sentence_end(text: str) -> int | None:
    """The index just past the first full sentence of ``text`` (its terminator and closing
    quotes), or None. A terminator counts only when whitespace follows it: at the very end of
    a text being generated, "3." may still become "3.5"."""
    for match in _END.finditer(text):
        if _ends_sentence(text, match.start()):
            return match.end()
    return None


def first_sentence(text: str) -> str:
    """``text`` cut after its first full sentence when more follows (a caption that ran on
    and was cut by the token cap mid-sentence); otherwise ``text`` unchanged.

    ``"A man speaks. He holds a"`` -> ``"A man speaks."``; ``"A man at a desk"`` (no full
    sentence) stays, as does ``"Dr. Smith talks."``.
    """
    end = sentence_end(text)
    if end is None or not text[end:].strip():
        return text
    return text[:end]


class SentenceStop:
    """Stops generating a row once its new tokens hold a full sentence (``generate``'s
    ``stopping_criteria``). ``decode`` turns a row's new token ids into text; ``prompt_length``
    tokens at the start of each row are the prompt (0 for encoder-decoder models). Finished
    rows are padded while the others go on."""

    def __init__(self, decode: Callable[[list[int]], str], prompt_length: int) -> None:
        self.decode = decode
        self.prompt_length = prompt_length

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        rows = input_ids[:, self.prompt_length:].tolist()
        done = [sentence_end(self.decode(row)) is not None for row in rows]
        return input_ids.new_tensor(done).bool()
