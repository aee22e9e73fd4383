"""The run ledger: a SQLite catalog of every file a batch finished, and its searchable text.

One row per input file (its absolute path): the SHA-256 of its bytes, a fingerprint of the
settings and prompts that shape its result, the output files, when it finished, and whether it
is ``done`` or ``failed`` (with the one-line error). A rerun skips a file whose content and
fingerprint are already done. The captions, transcript segments, text read on screen, summary,
key moments and chapters of each finished file are kept one per row in ``passages``, indexed by
an SQLite FTS5 table (``passages_fts``) for ``summarize-video search``.

The database lives beside the cache (``ledger.sqlite3``) unless ``$SUMMARIZE_VIDEO_LEDGER`` or
``--ledger`` names another file. Like the cache it runs in WAL mode and each file is recorded
in one transaction, so a run killed at any moment leaves every finished file recorded and
nothing half-recorded.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, LedgerError, StorageError
from ..options import Options, default_cache_dir
from ..pipeline.cache import DAMAGED, FULL, db_problem, limit_pages
from ..pipeline.fingerprint import (
    CAPTION_FIELDS,
    INTERVAL_FIELDS,
    SCENE_FIELDS,
    TRANSCRIPT_FIELDS,
    Backends,
    ledger_fingerprint,
)
from ..timeline import merge_repeats
from . import owners, versions

if TYPE_CHECKING:
    from ..pipeline.results import Result

log = logging.getLogger(__name__)

LEDGER_ENV = "SUMMARIZE_VIDEO_LEDGER"
LEDGER_NAME = "ledger.sqlite3"
# Bump when the tables change; an older ledger is migrated by creating what it lacks.
# 2: output ownership and run claims (see ``owners``). 3: every version of every file's
# annotations (see ``versions``).
SCHEMA = 3

DONE = "done"
FAILED = "failed"

_TABLES = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    content_hash TEXT NOT NULL,
    settings_fp TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    error TEXT,
    outputs TEXT NOT NULL,
    finished REAL NOT NULL,
    seconds REAL NOT NULL,
    settings TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS files_by_content ON files (content_hash, settings_fp, status);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    t REAL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS passages_by_path ON passages (path);
"""

_FTS = """
CREATE VIRTUAL TABLE passages_fts USING fts5(text, content='passages', content_rowid='id');
CREATE TRIGGER passages_added AFTER INSERT ON passages BEGIN
    INSERT INTO passages_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER passages_removed AFTER DELETE ON passages BEGIN
    INSERT INTO passages_fts (passages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
"""


@functools.lru_cache(maxsize=1)
def fts5_available() -> bool:
    """Whether this Python's SQLite was built with FTS5 (it normally is)."""
    try:
        db = sqlite3.connect(":memory:")
        try:
            db.execute("CREATE VIRTUAL TABLE probe USING fts5(text)")
        finally:
            db.close()
    except sqlite3.Error:
        return False
    return True


# Key of the recorded settings that holds the options of the caption and transcript cache
# keys, as the run had them: ``ask`` finds that run's cached work with them.
STAGE_OPTIONS = "stage_options"


def stage_options(result: Result) -> dict[str, Any]:
    """The options that shaped a result's captions and transcript (from its provenance)."""
    every = result.provenance.get("settings") if isinstance(result.provenance, dict) else None
    if not isinstance(every, dict):
        return {}
    names = (*CAPTION_FIELDS, *INTERVAL_FIELDS, *SCENE_FIELDS, *TRANSCRIPT_FIELDS)
    return {name: every[name] for name in names if name in every}


def default_ledger_path(cache_dir: Path | str | None = None) -> Path:
    """``$SUMMARIZE_VIDEO_LEDGER``, else ``ledger.sqlite3`` in the cache folder."""
    if os.environ.get(LEDGER_ENV):
        return Path(os.environ[LEDGER_ENV]).expanduser()
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return folder / LEDGER_NAME


def catalog_path(path: Path | str) -> str:
    """The path a file is recorded under: absolute, symlinks kept as the user named them."""
    return os.path.abspath(os.fspath(path))


def settings_fingerprint(options: Options, backends: Backends | None = None) -> str:
    """What a file's row is keyed on besides its content: ``fingerprint.ledger_fingerprint``
    (the settings, options and prompt texts that shape a result; ``backends``: those the
    summarizer resolved)."""
    return ledger_fingerprint(options, backends)


def passages(result: Result) -> list[tuple[float | None, str, str]]:
    """The searchable pieces of a result: ``(seconds or None, kind, text)``."""
    rows: list[tuple[float | None, str, str]] = []
    if result.summary:
        rows.append((None, "summary", result.summary.strip()))
    rows += [(m.t, "moment", m.text) for m in result.key_moments]
    rows += [(c.start, "chapter", c.title) for c in result.chapters]
    rows += [(c.t, "caption", c.text) for c, _ in merge_repeats(result.captions)]
    rows += [(s.start, "transcript", s.text) for s in result.transcript]
    rows += [(r.t, "screen", r.text) for r in result.screen_text]
    return [(t, kind, " ".join(text.split())) for t, kind, text in rows if text.strip()]


@dataclass(frozen=True)
class Entry:
    """One file in the ledger."""

    path: str
    content_hash: str
    settings_fp: str
    status: str
    error: str | None
    outputs: tuple[str, ...]
    finished: float
    seconds: float
    settings: dict[str, Any]

    @property
    def done(self) -> bool:
        return self.status == DONE


class Ledger:
    """The ledger database at ``path`` (created on first use, unless ``create`` is False)."""

    def __init__(self, path: Path | str | None = None, *, create: bool = True) -> None:
        self.path = Path(path).expanduser() if path is not None else default_ledger_path()
        if not create and not self.path.is_file():
            raise ConfigError(f"no ledger at {self.path}", stage="ledger",
                              hint="summarize some files first, or pass --ledger")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.has_fts = self._create()
            limit_pages(self.db)
        except sqlite3.Error as exc:
            raise ledger_error(self.path, exc) from exc
        except OSError as exc:
            raise ConfigError(f"cannot open the ledger {self.path}: {exc}", stage="ledger",
                              hint="pass --ledger elsewhere") from exc

    @contextmanager
    def _storage(self, error: type[StorageError] = LedgerError) -> Iterator[None]:
        """An SQLite error inside becomes ``error`` (a ``LedgerError`` stops the batch; a
        ``StorageError`` costs one file), naming the ledger and the fix."""
        try:
            yield
        except sqlite3.Error as exc:
            raise ledger_error(self.path, exc, error) from exc

    def check(self) -> None:
        """Raise ``LedgerError`` when any page of the ledger is damaged (SQLite's
        ``quick_check``), so that a batch stops before its first file, not after it."""
        with self._storage():
            (verdict,) = self.db.execute("PRAGMA quick_check(1)").fetchone()
        if verdict != "ok":
            raise ledger_error(self.path, sqlite3.DatabaseError(
                f"database disk image is malformed: {verdict}"))

    def rebuild_index(self) -> None:
        """Make the full-text index again from the passages it indexes (an index one of whose
        tables is gone is dropped and created again first)."""
        if not self.has_fts:
            return
        rebuild = "INSERT INTO passages_fts (passages_fts) VALUES ('rebuild')"
        with self._storage(), self.db:
            self.db.execute("BEGIN IMMEDIATE")
            for attempt in (lambda: None, self._reset_index):
                try:  # a failed statement is undone; the transaction goes on
                    attempt()
                    self.db.execute(rebuild)
                    return
                except sqlite3.DatabaseError:
                    pass
            for name in ("passages_added", "passages_removed"):
                self.db.execute(f"DROP TRIGGER IF EXISTS {name}")
            self.db.execute("DROP TABLE IF EXISTS passages_fts")
            for statement in _statements(_FTS):
                self.db.execute(statement)
            self.db.execute(rebuild)

    def _create(self) -> bool:
        """Create what the database lacks; whether full-text search is available."""
        fts = fts5_available()
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            (version,) = self.db.execute("PRAGMA user_version").fetchone()
            for statement in _statements(_TABLES):
                self.db.execute(statement)
            owners.create(self.db, version)
            versions.create(self.db)
            indexed = self.db.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'passages_fts'").fetchone() is not None
            if fts and not indexed:
                for statement in _statements(_FTS):
                    self.db.execute(statement)
                # Passages written by a Python without FTS5 get indexed now.
                self.db.execute("INSERT INTO passages_fts (passages_fts) VALUES ('rebuild')")
            self.db.execute(f"PRAGMA user_version = {SCHEMA}")
        if not fts:
            log.warning("this Python's SQLite has no FTS5: search falls back to LIKE matching")
        return fts

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _reset_index(self) -> None:
        """Empty the index's tables and give them the records of a new index (an index whose
        records are gone cannot even be dropped: FTS5 reads them to open it)."""
        self.db.execute("CREATE VIRTUAL TABLE temp.fresh_fts USING fts5(text, "
                        "content='passages', content_rowid='id')")
        try:
            for table in ("data", "idx", "docsize"):
                self.db.execute(f"DELETE FROM main.passages_fts_{table}")
            self.db.execute("INSERT INTO main.passages_fts_data SELECT * FROM temp.fresh_fts_data")
        finally:
            self.db.execute("DROP TABLE temp.fresh_fts")

    def find_done(self, content_hash: str, settings_fp: str) -> list[Entry]:
        """Files done with this content and these settings, the newest first."""
        with self._storage():
            rows = self.db.execute(
                "SELECT * FROM files WHERE content_hash = ? AND settings_fp = ? AND status = ? "
                "ORDER BY finished DESC", (content_hash, settings_fp, DONE)).fetchall()
        return [_entry(row) for row in rows]

    def find_content(self, content_hash: str) -> list[Entry]:
        """Every file recorded with this content, whatever its settings and status, the
        newest first."""
        with self._storage():
            rows = self.db.execute(
                "SELECT * FROM files WHERE content_hash = ? ORDER BY finished DESC",
                (content_hash,)).fetchall()
        return [_entry(row) for row in rows]

    def get(self, path: Path | str) -> Entry | None:
        with self._storage():
            row = self.db.execute("SELECT * FROM files WHERE path = ?",
                                  (catalog_path(path),)).fetchone()
        return _entry(row) if row else None

    def entries(self) -> list[Entry]:
        with self._storage():
            rows = self.db.execute("SELECT * FROM files ORDER BY path").fetchall()
        return [_entry(row) for row in rows]

    def record(self, path: Path | str, *, content_hash: str, settings_fp: str, status: str,
               outputs: Sequence[Path | str] = (), seconds: float = 0.0,
               error: str | None = None, result: Result | None = None,
               settings: dict[str, Any] | None = None) -> None:
        """Record a finished file and replace its searchable text, in one transaction; a
        ``StorageError`` when the ledger cannot (nothing of the file is then recorded)."""
        key = catalog_path(path)
        if settings is None:
            settings = dict(result.settings) if result is not None else {}
            if result is not None:
                settings[STAGE_OPTIONS] = stage_options(result)
        pieces = passages(result) if result is not None else []
        with self._storage(StorageError), self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, content_hash, settings_fp, status, error,
                 json.dumps([catalog_path(p) for p in outputs]), time.time(), seconds,
                 json.dumps(settings, sort_keys=True, default=str)))
            self.db.execute("DELETE FROM passages WHERE path = ?", (key,))
            self.db.executemany("INSERT INTO passages (path, t, kind, text) VALUES (?, ?, ?, ?)",
                                [(key, t, kind, text) for t, kind, text in pieces])
            if status == DONE and result is not None:
                versions.record(self.db, key, content_hash=content_hash,
                                settings_fp=settings_fp, result=result)


def ledger_error(path: Path, exc: sqlite3.Error,
                 error: type[StorageError] = LedgerError) -> StorageError:
    """The one-line error for an SQLite error of the ledger at ``path``, with the fix."""
    problem = db_problem(exc)
    if problem == FULL:
        return error(f"the ledger {path} is full ({exc})", stage="ledger",
                     hint="free space on its disk, or pass --ledger elsewhere")
    if problem == DAMAGED:
        return error(f"the ledger {path} is damaged ({exc})", stage="ledger",
                     hint=f"move it aside (mv {path} {path}.damaged; the next run starts a "
                     "new ledger and does every file again), or pass --ledger elsewhere")
    return error(f"cannot use the ledger {path}: {exc}", stage="ledger",
                 hint="pass --ledger elsewhere")


def _statements(script: str) -> list[str]:
    """Split a script of statements (triggers keep their inner semicolons)."""
    out: list[str] = []
    current = ""
    for line in script.strip().splitlines():
        current += line + "\n"
        if sqlite3.complete_statement(current):
            out.append(current.strip())
            current = ""
    return out


def _entry(row: Sequence[Any]) -> Entry:
    path, content_hash, fp, status, error, outputs, finished, seconds, settings = row
    return Entry(path=path, content_hash=content_hash, settings_fp=fp, status=status,
                 error=error, outputs=tuple(json.loads(outputs)), finished=finished,
                 seconds=seconds, settings=json.loads(settings))
