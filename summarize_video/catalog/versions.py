"""Every version of every file's annotations, for export as a dataset.

``versions``: one row per (input path, content hash, settings fingerprint) that finished:
its duration, size, the model ids that made it, its settings, provenance and summary. Running
a file again with the same settings replaces that version; with another caption model (or any
setting that shapes the result) it is a new version beside the old one, never an overwrite.

``entries``: the timeline of each version, one row per caption, speech segment, on-screen
text, chapter and key moment, with its start and end in seconds.

The functions take the ledger's SQLite connection inside its open transaction.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..pipeline.results import Result

# The ledger's user_version from which these tables exist.
VERSIONS_SCHEMA = 3

TABLES = """
CREATE TABLE IF NOT EXISTS versions (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    settings_fp TEXT NOT NULL,
    finished REAL NOT NULL,
    duration REAL,
    size INTEGER,
    caption_model TEXT,
    speech_model TEXT,
    reasoning_model TEXT,
    settings TEXT NOT NULL,
    provenance TEXT NOT NULL,
    summary TEXT,
    UNIQUE (path, content_hash, settings_fp)
);
CREATE INDEX IF NOT EXISTS versions_by_finished ON versions (finished);
CREATE TABLE IF NOT EXISTS entries (
    version INTEGER NOT NULL,
    start REAL,
    end REAL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_by_version ON entries (version)
"""

# Entry kinds, as exported.
CAPTION, SPEECH, SCREEN_TEXT, CHAPTER, KEY_MOMENT = (
    "caption", "speech", "screen_text", "chapter", "key_moment")
KINDS = (CAPTION, SPEECH, SCREEN_TEXT, CHAPTER, KEY_MOMENT)
# Provenance's names for the three models.
_MODELS = (("caption_model", "captioner"), ("speech_model", "transcriber"),
           ("reasoning_model", "reasoner"))


def create(db: sqlite3.Connection) -> None:
    """Create the tables in the open transaction (older ledgers simply start empty here)."""
    for statement in TABLES.split(";"):
        if statement.strip():
            db.execute(statement)


def model_ids(provenance: dict[str, Any]) -> dict[str, str | None]:
    """``caption_model``/``speech_model``/``reasoning_model``: the model ids provenance names."""
    models = provenance.get("models") or {}
    out: dict[str, str | None] = {}
    for column, stage in _MODELS:
        record = models.get(stage) or {}
        out[column] = record.get("model_id") if isinstance(record, dict) else None
    return out


def timeline_entries(result: Result) -> list[tuple[float | None, float | None, str, str]]:
    """``(start, end, kind, text)`` of each timeline entry of ``result``."""
    rows: list[tuple[float | None, float | None, str, str]] = []
    rows += [(c.t, c.until, CAPTION, c.text) for c in result.captions]
    rows += [(s.start, s.end, SPEECH, s.text) for s in result.transcript]
    rows += [(float(s.t), _maybe(s.until), SCREEN_TEXT, s.text)
             for s in result.screen_text]
    ends = [c.start for c in result.chapters[1:]] + [result.video.duration_s][:len(result.chapters)]
    rows += [(c.start, end, CHAPTER, c.title) for c, end in zip(result.chapters, ends, strict=True)]
    rows += [(m.t, None, KEY_MOMENT, m.text) for m in result.key_moments]
    return [(start, end, kind, " ".join(text.split())) for start, end, kind, text in rows
            if text.strip()]


def _maybe(value: Any) -> float | None:
    return None if value is None else float(value)


def record(db: sqlite3.Connection, path: str, *, content_hash: str, settings_fp: str,
           result: Result) -> None:
    """Record this version of ``path`` (replacing an earlier run with the same content and
    settings) and its timeline, in the open transaction."""
    old = db.execute("SELECT id FROM versions WHERE path = ? AND content_hash = ? "
                     "AND settings_fp = ?", (path, content_hash, settings_fp)).fetchone()
    if old is not None:
        db.execute("DELETE FROM entries WHERE version = ?", old)
        db.execute("DELETE FROM versions WHERE id = ?", old)
    provenance = dict(result.provenance)
    ids = model_ids(provenance)
    try:
        size: int | None = os.stat(path).st_size
    except OSError:
        size = (provenance.get("input") or {}).get("size_bytes")
    cursor = db.execute(
        "INSERT INTO versions (path, content_hash, settings_fp, finished, duration, size, "
        "caption_model, speech_model, reasoning_model, settings, provenance, summary) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (path, content_hash, settings_fp, time.time(), result.video.duration_s, size,
         ids["caption_model"], ids["speech_model"], ids["reasoning_model"],
         json.dumps(dict(result.settings), sort_keys=True, default=str),
         json.dumps(provenance, sort_keys=True, default=str), result.summary))
    version = cursor.lastrowid
    db.executemany("INSERT INTO entries (version, start, end, kind, text) VALUES (?, ?, ?, ?, ?)",
                   [(version, *row) for row in timeline_entries(result)])
