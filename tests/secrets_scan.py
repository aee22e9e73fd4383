"""The whole suite runs with a sentinel API key in the environment and in the config file
(``conftest.empty_config``) and with the ``openai`` library's debug logging on; this module
fails any test whose captured output or log records contain it, and the session when any
file the suite left behind (outputs, caches, ledgers, logs, SQLite write-ahead logs) does.
Tests also put it in URLs, as the password of ``base_url`` and of input URLs (``url_with_key``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

SENTINEL = "sk-proj-SENTINEL-9d2b7c41e0f3a8"
# Pieces a careless formatter might leave: the key cut in half, or its tail after a mask.
FRAGMENTS = (SENTINEL, SENTINEL[len("sk-proj-"):], SENTINEL[-12:])


def url_with_key(url: str, user: str = "user") -> str:
    """``url`` with the sentinel as its password: ``http://user:SENTINEL@host/...``."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{user}:{SENTINEL}@{rest}"


def leaks(text: str | bytes) -> list[str]:
    """The sentinel fragments found in ``text``."""
    if isinstance(text, bytes):
        return [f for f in FRAGMENTS if f.encode() in text or f.encode("utf-16-le") in text]
    return [f for f in FRAGMENTS if f in text]


def _stored_bytes(path: Path) -> bytes:
    """The bytes of ``path`` that are on disk: a sparse file's holes (zeros, gigabytes of them
    in a test of endless files) are skipped."""
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < 1 << 26 or not hasattr(os, "SEEK_DATA"):
            return f.read()
        parts, pos = [], 0
        while pos < size:
            try:
                start = os.lseek(f.fileno(), pos, os.SEEK_DATA)
            except OSError:  # ENXIO: only a hole is left
                break
            end = os.lseek(f.fileno(), start, os.SEEK_HOLE)
            f.seek(start)
            parts.append(f.read(end - start))
            pos = end
        return b"".join(parts)


def leaking_files(root: Path, *, skip: Iterable[Path] = ()) -> list[str]:
    """Every file under ``root`` whose bytes hold the sentinel (config files excepted)."""
    skipped = {p.resolve() for p in skip}
    found = []
    for path in sorted(root.rglob("*")):
        try:
            if not path.is_file() or path.is_symlink() or path.resolve() in skipped:
                continue
            if path.name == "config.toml" and path.parent.name.startswith("config"):
                continue  # where the test put it on purpose
            data = _stored_bytes(path)
        except OSError:
            continue
        if leaks(data):
            found.append(str(path.relative_to(root)))
    return found
