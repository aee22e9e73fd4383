"""What the ledger knows about output files and running batches: who owns each output, and
which input a run is summarizing right now.

``outputs``: one row per output file written (its absolute path), the input that owns it
(``owner``: the input's catalog path), the SHA-256 of the bytes written, and its folder and
stem (case-folded), so a later run can tell a name taken by another input from its own.
A file is still ours only while its bytes hash to what was recorded.

``claims``: one row per input a run is summarizing now (pid, host, start). A second run over
the same file finds the claim and leaves the file alone. A claim of a process that is gone
(same host, pid no longer alive), or one older than ``CLAIM_TTL_S`` from another host, is
stale and taken over.

The functions take the ledger's SQLite connection (autocommit; each change is one
``BEGIN IMMEDIATE`` transaction, like the rest of the ledger).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..pipeline.cache import hash_file

# The ledger's user_version from which these tables exist.
OWNERS_SCHEMA = 2
# A claim from another host older than this is stale (its pid cannot be checked from here).
CLAIM_TTL_S = 24 * 3600.0

TABLES = """
CREATE TABLE IF NOT EXISTS outputs (
    path TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    folder TEXT NOT NULL,
    stem_key TEXT NOT NULL,
    written REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outputs_by_name ON outputs (folder, stem_key);
CREATE INDEX IF NOT EXISTS outputs_by_owner ON outputs (owner, folder);
CREATE TABLE IF NOT EXISTS claims (
    path TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    started REAL NOT NULL
)
"""


@dataclass(frozen=True)
class Holder:
    """The run that holds a claim on an input."""

    pid: int
    host: str

    def describe(self) -> str:
        here = self.host == socket.gethostname()
        return f"pid {self.pid}" if here else f"pid {self.pid} on {self.host}"


def _abs(path: Path | str) -> str:
    return os.path.abspath(os.fspath(path))


def create(db: sqlite3.Connection, version: int) -> None:
    """Create the tables in the open transaction; a ledger older than ``OWNERS_SCHEMA`` (at
    ``version``) has the outputs its done files list taken as theirs, as they are now."""
    for statement in TABLES.split(";"):
        if statement.strip():
            db.execute(statement)
    if version >= OWNERS_SCHEMA:
        return
    rows = db.execute("SELECT path, outputs FROM files WHERE status = 'done' "
                      "ORDER BY finished").fetchall()
    for owner, outputs in rows:  # the newest writer of a path owns it, as on disk
        for output in json.loads(outputs):
            _own(db, owner, Path(output), _stem_of(Path(output)))


def _stem_of(path: Path) -> str:
    """The stem of an output name ``STEM.kind.ext`` (``clip.summary.md`` -> ``clip``)."""
    parts = path.name.split(".")
    return ".".join(parts[:-2]) if len(parts) > 2 else parts[0]


def _own(db: sqlite3.Connection, owner: str, path: Path, stem: str) -> None:
    try:
        digest = hash_file(path)
    except OSError:
        return  # gone: nothing to own
    db.execute("INSERT OR REPLACE INTO outputs VALUES (?, ?, ?, ?, ?, ?)",
               (_abs(path), owner, digest, _abs(path.parent), stem.casefold(), time.time()))


def own(db: sqlite3.Connection, owner: str, stem: str, outputs: Sequence[Path]) -> None:
    """Record ``outputs`` (just written under ``stem``) as ``owner``'s, with their hashes."""
    with db:
        db.execute("BEGIN IMMEDIATE")
        for path in outputs:
            _own(db, owner, Path(path), stem)


def recorded_owner(db: sqlite3.Connection, path: Path) -> str | None:
    """The input that wrote ``path`` as it is now (its bytes hash as recorded), else None."""
    row = db.execute("SELECT owner, sha256 FROM outputs WHERE path = ?",
                     (_abs(path),)).fetchone()
    if row is None:
        return None
    try:
        return row[0] if hash_file(path) == row[1] else None
    except OSError:
        return None


def kept_stem(db: sqlite3.Connection, owner: str, folder: Path) -> str | None:
    """The stem ``owner``'s outputs in ``folder`` were last written under, or None."""
    row = db.execute("SELECT path FROM outputs WHERE owner = ? AND folder = ? "
                     "ORDER BY written DESC LIMIT 1", (owner, _abs(folder))).fetchone()
    return _stem_of(Path(row[0])) if row else None


def taken_by(db: sqlite3.Connection, owner: str, folder: Path, stem: str) -> str | None:
    """Another input whose outputs named ``stem`` are still in ``folder``, else None."""
    rows = db.execute("SELECT path, owner FROM outputs WHERE folder = ? AND stem_key = ? "
                      "AND owner != ?", (_abs(folder), stem.casefold(), owner)).fetchall()
    return next((other for path, other in rows if Path(path).is_file()), None)


def claim(db: sqlite3.Connection, key: str) -> Holder | None:
    """Claim ``key`` for this process; the live holder of the claim instead, if another run
    has it (nothing is claimed then)."""
    host, pid = socket.gethostname(), os.getpid()
    with db:
        db.execute("BEGIN IMMEDIATE")
        row = db.execute("SELECT pid, host, started FROM claims WHERE path = ?",
                         (key,)).fetchone()
        if row is not None and _live(row[0], row[1], row[2], host, pid):
            return Holder(row[0], row[1])
        db.execute("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?)",
                   (key, pid, host, time.time()))
    return None


def release(db: sqlite3.Connection, key: str) -> None:
    """Drop this process's claim on ``key``."""
    with db:
        db.execute("BEGIN IMMEDIATE")
        db.execute("DELETE FROM claims WHERE path = ? AND pid = ? AND host = ?",
                   (key, os.getpid(), socket.gethostname()))


def _live(pid: int, host: str, started: float, this_host: str, this_pid: int) -> bool:
    if host != this_host:
        return time.time() - started < CLAIM_TTL_S
    if pid == this_pid:
        return False  # this process's own claim
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # alive, another user's
    return True
