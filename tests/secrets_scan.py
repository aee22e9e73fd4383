"""The whole suite runs with a sentinel API key in the environment and in the config file
(``conftest.empty_config``) and with the ``openai`` library's debug logging on; this module
fails any test whose captured output or log records contain it, and the session when any
file the suite left behind (outputs, caches, ledgers, logs, SQLite write-ahead logs) does.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

SENTINEL = "sk-proj-SENTINEL-9d2b7c41e0f3a8"
# Pieces a careless formatter might leave: the key cut in half, or its tail after a mask.
FRAGMENTS = (SENTINEL, SENTINEL[len("sk-proj-"):], SENTINEL[-12:])


def leaks(text: str | bytes) -> list[str]:
    """The sentinel fragments found in ``text``."""
    if isinstance(text, bytes):
        return [f for f in FRAGMENTS if f.encode() in text or f.encode("utf-16-le") in text]
    return [f for f in FRAGMENTS if f in text]


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
            data = path.read_bytes()
        except OSError:
            continue
        if leaks(data):
            found.append(str(path.relative_to(root)))
    return found
