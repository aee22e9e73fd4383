"""Full-text search over the ledger: summaries, key moments, chapters, captions, transcripts,
text read on screen.

``search("whiteboard")`` returns the best hits first, each with its file, its time in the
video (None for a summary) and a snippet. A query is what people type, never an FTS5 syntax
error: its words must all occur (``AND`` may be written or not); ``"a phrase"`` matches the
words in a row, as does a word with punctuation inside (``caption-then-reason``, ``don't``);
``word*`` matches words that begin so; ``OR`` and ``NOT`` between words work as in FTS5; other
punctuation separates words (``fts_query`` builds the FTS5 query). Without FTS5 in this
Python's SQLite every word of the query is matched as a case-insensitive substring instead (a
warning says so).
"""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, LedgerError, StorageError
from ..pipeline.cache import DAMAGED, db_problem
from .ledger import Ledger, ledger_error

log = logging.getLogger(__name__)

# Markers around matched words in FTS5 snippets; never in indexed text (whitespace is
# normalised and control characters do not survive the captioners).
_OPEN, _CLOSE = "\x02", "\x03"
SNIPPET_TOKENS = 16
_LIKE_CONTEXT = 60
_QUERY_HINT = 'search for words, "a phrase", prefix*, OR, NOT'
# A quoted phrase (its closing quote may be missing), or a run of anything but spaces.
_CHUNK = re.compile(r'"([^"]*)"?|([^\s"]+)')
# A word as SQLite's unicode61 tokenizer sees one: letters and digits; the rest separates.
_WORD = re.compile(r"[^\W_]+")
_OPERATORS = frozenset({"OR", "NOT"})


class QueryError(ConfigError):
    """A search query FTS5 cannot parse."""

    default_stage = "search"


@dataclass(frozen=True)
class Hit:
    # The input file, as recorded in the ledger (absolute path).
    path: str
    # Seconds into the video; None for the summary, which concerns the whole file.
    t: float | None
    # "summary", "moment", "chapter", "caption", "transcript" or "screen" (text read on
    # screen).
    kind: str
    # The matching text, shortened around the match.
    snippet: str
    # (start, end) character spans of the matched words in ``snippet``.
    marks: tuple[tuple[int, int], ...] = ()
    # Relevance: lower is better (FTS5's bm25); 0.0 for every hit of the fallback search.
    rank: float = 0.0


def search(query: str, limit: int = 20, ledger: Ledger | Path | str | None = None) -> list[Hit]:
    """The ``limit`` best hits for ``query`` in the ledger (the default one if None).

    Raises ``QueryError`` for a query FTS5 cannot parse, ``ConfigError`` when there is no
    ledger yet, ``LedgerError`` when the ledger or its index is damaged (the index is made
    again by ``Ledger.rebuild_index``: ``summarize-video search --rebuild``).
    """
    if not query.strip():
        raise QueryError("empty search query", hint=_QUERY_HINT)
    if not _WORD.search(query):
        raise QueryError(f"no words to search for in {query!r}", hint=_QUERY_HINT)
    if limit < 1:
        raise ConfigError("the search limit must be at least 1", stage="search")
    own = not isinstance(ledger, Ledger)
    db = ledger if isinstance(ledger, Ledger) else Ledger(ledger, create=False)
    try:
        if db.has_fts:
            try:
                return _fts(db.db, query, limit)
            except sqlite3.DatabaseError as exc:
                raise _index_error(db.path, exc) from exc
        log.warning("SQLite FTS5 is not available: matching each word as a substring")
        return _like(db.db, query, limit)
    finally:
        if own:
            db.close()


def _fts(db: sqlite3.Connection, query: str, limit: int) -> list[Hit]:
    try:
        rows = db.execute(
            "SELECT p.path, p.t, p.kind, snippet(passages_fts, 0, ?, ?, '…', ?), "
            "bm25(passages_fts) FROM passages_fts JOIN passages AS p "
            "ON p.id = passages_fts.rowid WHERE passages_fts MATCH ? "
            "ORDER BY bm25(passages_fts), p.path, p.t LIMIT ?",
            (_OPEN, _CLOSE, SNIPPET_TOKENS, fts_query(query), limit)).fetchall()
    except sqlite3.OperationalError as exc:
        message = str(exc)
        if _is_syntax_error(message):
            raise QueryError(f"bad search query {query!r}: {message}", hint=_QUERY_HINT
                             ) from None
        raise
    return [Hit(path, t, kind, *_marked(snippet), rank=rank)
            for path, t, kind, snippet, rank in rows]


def fts_query(text: str) -> str:
    """The FTS5 query for what a person typed: every word or phrase quoted (so no character
    of it is FTS5 syntax), ``*`` kept as a prefix, ``AND`` dropped (all terms must occur
    anyway), ``OR`` / ``NOT`` kept only between two terms. Empty when there are no words."""
    terms: list[str] = []
    for phrase, chunk in _CHUNK.findall(text):
        if chunk == "AND":
            continue
        if chunk in _OPERATORS:
            if terms and terms[-1] not in _OPERATORS:
                terms.append(chunk)
            continue
        words = _WORD.findall(phrase or chunk)
        if not words:
            continue
        prefix = "*" if chunk.rstrip(".,;:!?)]}'").endswith("*") else ""
        terms.append(f'"{" ".join(words)}"{prefix}')
    while terms and terms[-1] in _OPERATORS:
        terms.pop()
    return " ".join(terms)


def _index_error(path: Path, exc: sqlite3.DatabaseError) -> StorageError:
    """A search that failed on the ledger itself: its index is damaged (or its tables are
    gone), else what ``ledger_error`` says."""
    message = str(exc)
    if db_problem(exc) == DAMAGED or any(s in message for s in (
            "vtable constructor failed", "SQL logic error", "no such table")):
        return LedgerError(f"the search index of the ledger {path} is damaged ({message})",
                           stage="search", hint="make it again from the ledger: "
                           "summarize-video search --rebuild QUERY")
    return ledger_error(path, exc)


def _is_syntax_error(message: str) -> bool:
    return message.startswith("fts5:") or any(
        s in message for s in ("syntax error", "no such column", "unterminated string",
                               "unknown special query", "malformed MATCH"))


def _marked(snippet: str) -> tuple[str, tuple[tuple[int, int], ...]]:
    """The snippet without markers, and where the markers were."""
    text: list[str] = []
    marks: list[tuple[int, int]] = []
    length = 0
    start = None
    for part in re.split(f"([{_OPEN}{_CLOSE}])", snippet):
        if part == _OPEN:
            start = length
        elif part == _CLOSE:
            if start is not None:
                marks.append((start, length))
            start = None
        else:
            text.append(part)
            length += len(part)
    return "".join(text), tuple(marks)


def _like(db: sqlite3.Connection, query: str, limit: int) -> list[Hit]:
    """Every word of the query (FTS operators and quotes dropped) as a substring."""
    words = [w for w in re.findall(r"[^\s\"()*^]+", query)
             if w not in {"AND", "OR", "NOT", "NEAR"}]
    if not words:
        raise QueryError(f"no words to search for in {query!r}", hint=_QUERY_HINT)
    where = " AND ".join("text LIKE ? ESCAPE '\\'" for _ in words)
    params = [f"%{_escape_like(w)}%" for w in words]
    rows = db.execute(f"SELECT path, t, kind, text FROM passages WHERE {where} "
                      "ORDER BY path, t LIMIT ?", (*params, limit)).fetchall()
    return [Hit(path, t, kind, *_like_snippet(text, words)) for path, t, kind, text in rows]


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like_snippet(text: str, words: list[str]) -> tuple[str, tuple[tuple[int, int], ...]]:
    lower = text.lower()
    first = min((i for w in words if (i := lower.find(w.lower())) >= 0), default=0)
    start = max(0, first - _LIKE_CONTEXT)
    end = min(len(text), first + 2 * _LIKE_CONTEXT)
    prefix = "…" if start else ""
    snippet = prefix + text[start:end] + ("…" if end < len(text) else "")
    marks = []
    low = snippet.lower()
    for w in words:
        for m in re.finditer(re.escape(w.lower()), low):
            marks.append((m.start(), m.end()))
    return snippet, tuple(sorted(marks))
