"""The catalog as a dataset: ``export(folder, format=...)`` writes every version of every
file's annotations for curation and training pipelines.

Two tables, each one file in ``folder``: ``files.FORMAT`` (one row per version of a file:
path, content hash, settings fingerprint, model ids, duration, size, finished, summary,
settings, provenance) and ``entries.FORMAT`` (one row per timeline entry: the same keys, start,
end, kind = caption / speech / screen_text / chapter / key_moment, text). Formats: ``jsonl``
(settings and provenance as objects), ``csv`` (as JSON text) and ``parquet`` (needs
``pyarrow``: the ``export`` extra). Each file is written beside its final name and renamed
into place when complete, so an interrupted export leaves no half-written table.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, StorageError
from ..inputs.discovery import matches
from ..options import check_choice

if TYPE_CHECKING:
    from .ledger import Ledger

FORMATS = ("jsonl", "csv", "parquet")
# The columns of each table, in order.
KEYS = ("file", "content_hash", "settings_fp", "version", "caption_model", "speech_model",
        "reasoning_model")
FILE_COLUMNS = (*KEYS, "finished", "duration", "size", "summary", "settings", "provenance")
ENTRY_COLUMNS = (*KEYS, "start", "end", "kind", "text")
_JSON_COLUMNS = ("settings", "provenance")
_BATCH = 50_000


@dataclass(frozen=True)
class Exported:
    """What ``export`` wrote."""

    # The two tables' files: files.FORMAT and entries.FORMAT.
    files_path: Path
    entries_path: Path
    # Rows written to each.
    files: int
    entries: int

    @property
    def bytes(self) -> int:
        return self.files_path.stat().st_size + self.entries_path.stat().st_size


def parse_since(value: str) -> float:
    """Seconds since the epoch from an ISO date or date-time (local time when no zone)."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(f"--since {value!r} is not a date", stage="export",
                          hint="use an ISO date or date-time, e.g. 2026-12-01 or "
                          "2026-12-01T09:30") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return moment.timestamp()


def export(out: Path | str, *, format: str = "jsonl", include: Sequence[str] = (),
           since: float | None = None, latest: bool = False,
           ledger: Ledger | Path | str | None = None) -> Exported:
    """Write the catalog's versions (only the newest per file with ``latest``; only files
    matching an ``include`` glob; only versions finished at or after ``since``) to ``out``."""
    check_choice(format, FORMATS, "export format", stage="export")
    writer = _WRITERS[format]
    if format == "parquet":
        _need_pyarrow()
    from .ledger import Ledger  # the catalog's tables: only when exporting (fast --help)

    folder = Path(out).expanduser()
    own = not isinstance(ledger, Ledger)
    db = ledger if isinstance(ledger, Ledger) else Ledger(ledger, create=False)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        ids = _chosen(db.db, tuple(include), since, latest)
        files_path, entries_path = folder / f"files.{format}", folder / f"entries.{format}"
        n_files = _write(files_path, writer, FILE_COLUMNS, _file_rows(db.db, ids))
        n_entries = _write(entries_path, writer, ENTRY_COLUMNS, _entry_rows(db.db, ids))
    except sqlite3.Error as exc:
        raise StorageError(f"cannot read the ledger {db.path}: {exc}", stage="export",
                           hint="check it with summarize-video search --rebuild") from exc
    except OSError as exc:
        raise StorageError(f"cannot write the export to {folder}: {exc}", stage="export",
                           hint="free space or choose another folder") from exc
    finally:
        if own:
            db.close()
    return Exported(files_path, entries_path, n_files, n_entries)


def _need_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ConfigError("Parquet export needs pyarrow", stage="export",
                          hint="pip install 'summarize-video[export]', or use --format "
                          "jsonl or csv") from None


def _chosen(db: sqlite3.Connection, include: tuple[str, ...], since: float | None,
            latest: bool) -> list[int]:
    """The ids of the versions to export, by file then age."""
    rows = db.execute(
        "SELECT id, path, finished, ROW_NUMBER() OVER (PARTITION BY path ORDER BY finished "
        "DESC, id DESC) FROM versions ORDER BY path, finished, id").fetchall()
    return [vid for vid, path, finished, rank in rows
            if (not latest or rank == 1) and (since is None or finished >= since)
            and (not include or matches(path, include))]


def _selected(db: sqlite3.Connection, sql: str, ids: list[int]) -> Iterator[tuple[Any, ...]]:
    """The rows of ``sql`` (which holds ``{ids}`` where the version ids go) for ``ids``, a
    few hundred ids per query."""
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        yield from db.execute(sql.format(ids=",".join("?" * len(chunk))), chunk)


def _file_rows(db: sqlite3.Connection, ids: list[int]) -> Iterator[dict[str, Any]]:
    for row in _selected(db, "SELECT path, content_hash, settings_fp, id, caption_model, "
                         "speech_model, reasoning_model, finished, duration, size, summary, "
                         "settings, provenance FROM versions WHERE id IN ({ids}) "
                         "ORDER BY path, finished, id", ids):
        record = dict(zip(FILE_COLUMNS, row, strict=True))
        record["finished"] = datetime.fromtimestamp(
            record["finished"], timezone.utc).isoformat(timespec="seconds")
        for key in _JSON_COLUMNS:
            record[key] = json.loads(record[key])
        yield record


def _entry_rows(db: sqlite3.Connection, ids: list[int]) -> Iterator[dict[str, Any]]:
    for row in _selected(db, "SELECT v.path, v.content_hash, v.settings_fp, v.id, "
                         "v.caption_model, v.speech_model, v.reasoning_model, e.start, e.end, "
                         "e.kind, e.text FROM versions AS v JOIN entries AS e "
                         "ON e.version = v.id WHERE v.id IN ({ids}) "
                         "ORDER BY v.path, v.finished, v.id, e.start, e.rowid", ids):
        yield dict(zip(ENTRY_COLUMNS, row, strict=True))


def _write(path: Path, writer: Any, columns: tuple[str, ...],
           rows: Iterator[dict[str, Any]]) -> int:
    """Rows written through ``writer`` into a temporary file renamed to ``path`` at the end."""
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    os.close(fd)
    try:
        count = writer(Path(partial), columns, rows)
        os.chmod(partial, 0o666 & ~_umask())
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return count


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _jsonl(path: Path, columns: tuple[str, ...], rows: Iterator[dict[str, Any]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n")
            count += 1
    return count


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    return {k: json.dumps(v, sort_keys=True) if k in _JSON_COLUMNS else v
            for k, v in row.items()}


def _csv(path: Path, columns: tuple[str, ...], rows: Iterator[dict[str, Any]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        table = csv.DictWriter(out, fieldnames=columns)
        table.writeheader()
        for row in rows:
            table.writerow(_flat(row))
            count += 1
    return count


def _parquet(path: Path, columns: tuple[str, ...], rows: Iterator[dict[str, Any]]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    floats = {"start", "end", "duration"}
    ints = {"version", "size"}
    schema = pa.schema([(c, pa.float64() if c in floats else pa.int64() if c in ints
                         else pa.string()) for c in columns])
    count = 0
    with pq.ParquetWriter(path, schema) as out:
        batch: list[dict[str, Any]] = []
        for row in rows:
            batch.append(_flat(row))
            if len(batch) >= _BATCH:
                out.write_table(pa.Table.from_pylist(batch, schema=schema))
                count, batch = count + len(batch), []
        if batch or not count:
            out.write_table(pa.Table.from_pylist(batch, schema=schema))
            count += len(batch)
    return count


_WRITERS = {"jsonl": _jsonl, "csv": _csv, "parquet": _parquet}
