"""The catalog passages most relevant to a question in plain words.

The question's words (lower-cased, common English function words and one-letter words left
out) each become a quoted FTS5 term, joined with OR, and FTS5's bm25 ranks the passages, so
any text a person types is a valid query and passages holding more and rarer question words
come first. Without FTS5 in this Python's SQLite, passages are ranked by how many of the words
they contain (a substring match).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..inputs.discovery import matches
from .ledger import Ledger, ledger_error

# Words too common to tell passages apart.
_STOPWORDS = """
a about above after again all also am an and any are as at be because been before being
below between both but by can could did do does doing done down during each few for from
further had has have having he her here hers him his how i if in into is it its itself just
me more most my no nor not now of off on once only or other our out over own same she should
so some such than that the their them then there these they this those through to too under
until up very was we were what when where which while who whom why will with would you your
tell say says said show shows shown video videos file files anything something please
"""
STOPWORDS = frozenset(_STOPWORDS.split())
MAX_TERMS = 32


@dataclass(frozen=True)
class Passage:
    # The file, as recorded in the ledger (absolute path).
    path: str
    # Seconds into it; None for its summary.
    t: float | None
    # "summary", "moment", "chapter", "caption", "transcript" or "screen".
    kind: str
    text: str
    # bm25 (lower is better); minus the number of matching words without FTS5.
    rank: float = 0.0


def question_words(question: str) -> list[str]:
    """The words of ``question`` that can tell passages apart, in order, each once."""
    seen: list[str] = []
    for word in re.findall(r"\w+", question.lower()):
        if (len(word) > 1 or word.isdigit()) and word not in STOPWORDS and word not in seen:
            seen.append(word)
    return seen[:MAX_TERMS]


def fts_query(words: Sequence[str]) -> str:
    """An FTS5 query matching any of ``words`` (each quoted: never FTS syntax)."""
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)


def retrieve(question: str, *, limit: int = 20, include: Sequence[str] = (),
             ledger: Ledger | Path | str | None = None) -> list[Passage]:
    """The ``limit`` passages most relevant to ``question`` (only files matching one of the
    ``include`` globs, when given), best first; [] when none holds any of its words."""
    if limit < 1:
        raise ConfigError("the passage limit must be at least 1", stage="ask-library",
                          hint="use e.g. --limit 20")
    words = question_words(question)
    if not words:
        if not question.strip():
            raise ConfigError("empty question", stage="ask-library",
                              hint='ask something, e.g. "where is pricing discussed?"')
        return []
    own = not isinstance(ledger, Ledger)
    db = ledger if isinstance(ledger, Ledger) else Ledger(ledger, create=False)
    try:
        try:
            where = _included(db.db, tuple(include)) if include else "1"
            rows = (_fts if db.has_fts else _like)(db.db, words, where, limit)
        except sqlite3.Error as exc:
            raise ledger_error(db.path, exc) from exc
    finally:
        if own:
            db.close()
    return [Passage(path, t, kind, text, float(rank)) for path, t, kind, text, rank in rows]


def _included(db: sqlite3.Connection, include: tuple[str, ...]) -> str:
    """The SQL condition for passages of files matching ``include``: the files are matched
    once each (not once per passage) into a temporary table."""
    db.execute("CREATE TEMP TABLE IF NOT EXISTS included (path TEXT PRIMARY KEY)")
    db.execute("DELETE FROM temp.included")
    paths = db.execute("SELECT path FROM files").fetchall()
    db.executemany("INSERT INTO temp.included VALUES (?)",
                   [row for row in paths if matches(row[0], include)])
    return "p.path IN (SELECT path FROM temp.included)"


def _fts(db: sqlite3.Connection, words: list[str], where: str, limit: int) -> list[tuple]:
    return db.execute(
        "SELECT p.path, p.t, p.kind, p.text, bm25(passages_fts) FROM passages_fts "
        "JOIN passages AS p ON p.id = passages_fts.rowid "
        f"WHERE passages_fts MATCH ? AND {where} "
        "ORDER BY bm25(passages_fts), p.path, p.t LIMIT ?",
        (fts_query(words), limit)).fetchall()


def _like(db: sqlite3.Connection, words: list[str], where: str, limit: int) -> list[tuple]:
    score = " + ".join("(instr(lower(p.text), ?) > 0)" for _ in words)
    return db.execute(
        f"SELECT p.path, p.t, p.kind, p.text, -({score}) AS r FROM passages AS p "
        f"WHERE r < 0 AND {where} ORDER BY r, p.path, p.t LIMIT ?",
        (*words, limit)).fetchall()
