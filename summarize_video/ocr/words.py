"""Words run together by a reader ("Sometimesyouthinkthat") split back apart.

Some recognizers drop the spaces between English words. A run of Latin letters that is no word
itself is split where a unigram word-frequency model (``wordninja``, English Wikipedia
frequencies) finds the likeliest words, and only when every piece is a known word of two letters
or more ("a" and "I" aside): a name or code it does not know ("NCOUVERBC") stays whole. Without
``wordninja`` installed the text is left as it was.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

# Runs of letters (with inner apostrophes) shorter than this are left alone.
MIN_RUN = 6
# One-letter words a split may contain.
SHORT_WORDS = frozenset({"a", "i"})
_RUN = re.compile(r"[A-Za-z][A-Za-z']*[A-Za-z]")
# A comma, semicolon, "!" or "?" glued to the next word ("then,instead").
_AFTER_PUNCTUATION = re.compile(r"([,;!?])(?=[A-Za-z])")


@lru_cache(maxsize=1)
def _model() -> Any:
    try:
        import wordninja
    except ImportError:
        return None
    return wordninja


def split_words(text: str) -> str:
    """``text`` with each long run of letters split into words where that reads better."""
    text = _AFTER_PUNCTUATION.sub(r"\1 ", text)
    model = _model()
    if model is None:
        return text
    return _RUN.sub(lambda m: _split_run(m.group(0), model), text)


def _split_run(run: str, model: Any) -> str:
    known = model.DEFAULT_LANGUAGE_MODEL._wordcost
    if len(run) < MIN_RUN or run.lower() in known:
        return run
    pieces = _rejoin_apostrophes(run, model.split(run))
    if len(pieces) < 2 or not all(
            p.lower() in known and (len(p) > 1 or p.lower() in SHORT_WORDS)
            for p in pieces if "'" not in p):
        return run
    return _restore_case(run, pieces)


def _rejoin_apostrophes(run: str, pieces: list[str]) -> list[str]:
    """wordninja drops apostrophes ("you're" -> "you", "re"): glue such pieces back."""
    out: list[str] = []
    pos = 0
    for piece in pieces:
        start = run.lower().find(piece.lower(), pos)
        if start < 0:
            return [run]
        if out and start > pos and run[pos:start] == "'":
            out[-1] = out[-1] + "'" + piece
        else:
            out.append(piece)
        pos = start + len(piece)
    return out


def _restore_case(run: str, pieces: list[str]) -> str:
    """The pieces with the run's own letters (wordninja lower-cases them)."""
    words, pos = [], 0
    for piece in pieces:
        words.append(run[pos:pos + len(piece)])
        pos += len(piece)
    return " ".join(words)
