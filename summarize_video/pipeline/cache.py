"""A SQLite cache of stage results, keyed on the input's content and every setting that matters.

Captions and transcripts are the expensive part of a run. They are stored under a key made of
the stage name, the SHA-256 of the input file's bytes, and the parameters that change the
result (model id and revision, sampling, prompt text...). Re-running with another summary
prompt or reasoning model then costs no model time; changing the interval recomputes only the
captions.

The database runs in WAL mode and every write is one transaction: a run killed at any moment
leaves a cache that opens and holds only complete entries.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import ConfigError, StorageError
from ..options import default_cache_dir

DB_NAME = "cache.sqlite3"
# Bump when the stored value format of any stage changes: old entries are then never read.
SCHEMA = 1

# Tests only: caps a cache's or ledger's size in pages, so that a full disk is met for real.
MAX_PAGES_ENV = "SUMMARIZE_VIDEO_TEST_MAX_PAGES"
# What ``db_problem`` makes of an SQLite error.
FULL, DAMAGED, OTHER = "full", "damaged", "other"

_HASH_CHUNK = 1 << 20
# The cache file's own version (SQLite's user_version): 1 names backends by registry name.
FILE_VERSION = 1
# Backend class names that keys held before version 1, and the registry names now held.
_RENAMED = {"captioner": {"TransformersCaptioner": "transformers"},
            "transcriber": {"WhisperTranscriber": "whisper"}}


def stable_key(stage: str, file_hash: str, params: dict[str, Any]) -> str:
    """One hex digest for a stage, an input and its result-changing parameters."""
    blob = json.dumps([SCHEMA, stage, file_hash, params], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class Cache:
    """Stage results in ``<folder>/cache.sqlite3``; safe to share between threads."""

    def __init__(self, folder: Path | str | None = None) -> None:
        self.folder = Path(folder) if folder is not None else default_cache_dir()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.folder / DB_NAME, timeout=30,
                                       check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            with self._db:
                self._db.execute("BEGIN")
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, stage TEXT NOT "
                    "NULL, file_hash TEXT NOT NULL, params TEXT NOT NULL, value TEXT NOT NULL, "
                    "created REAL NOT NULL)"
                )
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS file_hashes (path TEXT PRIMARY KEY, size INTEGER "
                    "NOT NULL, mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL)"
                )
                _migrate(self._db)
            limit_pages(self._db)
        except (OSError, sqlite3.Error) as exc:
            hint = "pass --cache-dir elsewhere or --no-cache"
            if isinstance(exc, sqlite3.Error) and db_problem(exc) == DAMAGED:
                hint = f"{_DAMAGED_HINT.format(self.folder / DB_NAME)}, or {hint}"
            raise ConfigError(f"cannot open the cache in {self.folder}: {exc}",
                              stage="cache", hint=hint) from exc
        self._lock = threading.Lock()

    @contextmanager
    def _storage(self) -> Iterator[None]:
        """An SQLite error inside becomes a ``StorageError`` naming the file and the fix."""
        try:
            yield
        except sqlite3.Error as exc:
            raise cache_error(self.folder / DB_NAME, exc) from exc

    def close(self) -> None:
        self._db.close()

    def get(self, stage: str, file_hash: str, params: dict[str, Any]) -> Any | None:
        key = stable_key(stage, file_hash, params)
        with self._storage(), self._lock:
            row = self._db.execute("SELECT value FROM entries WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, stage: str, file_hash: str, params: dict[str, Any], value: Any) -> None:
        key = stable_key(stage, file_hash, params)
        text = json.dumps(value, ensure_ascii=False)
        blob = json.dumps(params, sort_keys=True, default=str)
        with self._storage(), self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?)",
                (key, stage, file_hash, blob, text, time.time()),
            )

    def known_hash(self, path: Path | str) -> str | None:
        """The file's SHA-256 if it was hashed at its present size and mtime, else None."""
        p = Path(path)
        st = p.stat()
        with self._storage(), self._lock:
            row = self._db.execute(
                "SELECT sha256 FROM file_hashes WHERE path = ? AND size = ? AND mtime_ns = ?",
                (str(p.resolve()), st.st_size, st.st_mtime_ns),
            ).fetchone()
        return str(row[0]) if row else None

    def file_hash(self, path: Path | str) -> str:
        """SHA-256 of the file's bytes, remembered while its size and mtime stay the same."""
        p = Path(path)
        st = p.stat()
        real = str(p.resolve())
        known = self.known_hash(p)
        if known is not None:
            return known
        digest = hash_file(p)
        with self._storage(), self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute("INSERT OR REPLACE INTO file_hashes VALUES (?, ?, ?, ?)",
                             (real, st.st_size, st.st_mtime_ns, digest))
        return digest

    def stats(self) -> dict[str, int]:
        with self._storage(), self._lock:
            rows = self._db.execute(
                "SELECT stage, COUNT(*) FROM entries GROUP BY stage").fetchall()
        return {str(stage): int(n) for stage, n in rows}


def _migrate(db: sqlite3.Connection) -> None:
    """Bring an older cache file to ``FILE_VERSION`` in the open transaction: entries keyed on
    a backend's class name are re-keyed on its registry name, so they keep their hits."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version >= FILE_VERSION:
        return
    rows = db.execute("SELECT key, stage, file_hash, params FROM entries").fetchall()
    for key, stage, file_hash, blob in rows:
        params = json.loads(blob)
        renamed = {field: names[params[field]] for field, names in _RENAMED.items()
                   if isinstance(params, dict) and params.get(field) in names}
        if renamed:
            params.update(renamed)
            db.execute("UPDATE OR REPLACE entries SET key = ?, params = ? WHERE key = ?",
                       (stable_key(stage, file_hash, params),
                        json.dumps(params, sort_keys=True, default=str), key))
    db.execute(f"PRAGMA user_version = {FILE_VERSION}")


_DAMAGED_HINT = ("delete {} or move it aside: it holds only captions and transcripts, made "
                 "again by the next run")


def db_problem(exc: sqlite3.Error) -> str:
    """``FULL`` (its disk or its size limit), ``DAMAGED`` (a malformed or foreign file) or
    ``OTHER``, for an SQLite error."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    if name.startswith("SQLITE_FULL") or "disk is full" in text:
        return FULL
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in text \
            or "not a database" in text:
        return DAMAGED
    return OTHER


def cache_error(db: Path, exc: sqlite3.Error) -> StorageError:
    """What a failed read or write of the cache file ``db`` costs: the file being summarized,
    with the fix."""
    problem = db_problem(exc)
    if problem == FULL:
        return StorageError(f"the cache file {db} is full ({exc})",
                            hint="free space on its disk, pass --cache-dir elsewhere, or pass "
                            "--no-cache")
    if problem == DAMAGED:
        return StorageError(f"the cache file {db} is damaged ({exc})",
                            hint=f"{_DAMAGED_HINT.format(db)}; or pass --no-cache")
    return StorageError(f"cannot use the cache file {db}: {exc}",
                        hint="pass --cache-dir elsewhere or --no-cache")


def limit_pages(db: sqlite3.Connection) -> None:
    """Tests only: ``$SUMMARIZE_VIDEO_TEST_MAX_PAGES`` sets SQLite's ``max_page_count`` (never
    below the file's present size), so that a write needing more pages fails as on a full
    disk."""
    budget = os.environ.get(MAX_PAGES_ENV)
    if budget:
        db.execute(f"PRAGMA max_page_count = {int(budget)}")


def hash_file(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()
