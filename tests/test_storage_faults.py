"""The cache and the run ledger failing as real SQLite files do: full, damaged, a broken search
index; and junk refused before a single byte of it is hashed.

Every fault is real: a full database is SQLite's own ``max_page_count`` (set through the
test-only ``SUMMARIZE_VIDEO_TEST_MAX_PAGES``), a damaged one a valid file whose pages after
the first were overwritten with junk.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from summarize_video.catalog.ledger import Ledger
from summarize_video.cli.main import cli
from summarize_video.pipeline.cache import DB_NAME, MAX_PAGES_ENV, Cache
from summarize_video.testing.chat_server import ChatServer
from tests.clips import make_clip
from tests.support import cli_args

PAGE = 4096


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("storage-clips")
    return [make_clip(root / f"{name}.mp4", seconds=1.0, fps=10) for name in ("a", "b")]


def damage(db: Path) -> None:
    """Overwrite every page after the first (the schema) with junk: the header stays valid."""
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    size = db.stat().st_size
    assert size >= 4 * PAGE, size
    with open(db, "r+b") as fh:
        fh.seek(PAGE)
        fh.write(bytes(range(256)) * ((size - PAGE) // 256))


def failures(output: str) -> list[str]:
    return [ln for ln in output.splitlines() if ln.startswith(("failed:", "error:"))]


def test_a_damaged_cache_fails_each_file_and_the_batch_goes_on(
        tmp_path: Path, clips: list[Path], tiny_models: dict[str, Path],
        cli_runner: CliRunner) -> None:
    cache = Cache(tmp_path / "cache")
    for i in range(40):
        cache.put("captions", f"{i:064x}", {"i": i}, ["x" * 300] * 4)
    cache.close()
    damage(tmp_path / "cache" / DB_NAME)
    out = tmp_path / "out"
    res = cli_runner.invoke(cli, [*map(str, clips), *cli_args(tiny_models, out), "--no-llm",
                                  "--cache-dir", str(tmp_path / "cache")])
    assert res.exit_code == 1, res.output
    lines = failures(res.output)
    assert len(lines) == 2, res.output  # both files tried, each one line
    for clip, line in zip(clips, lines, strict=True):
        assert line.startswith(f"failed: {clip}: cache: "), line
        assert str(tmp_path / "cache" / DB_NAME) in line and "damaged" in line
        assert "--no-cache" in line and "move it aside" in line
    assert "internal error" not in res.output and "Traceback" not in res.output


def test_a_full_cache_fails_that_file_and_the_batch_goes_on(
        tmp_path: Path, clips: list[Path], tiny_models: dict[str, Path],
        cli_runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    # No room beyond the pages the file has when opened; thumbnails make captions too big.
    monkeypatch.setenv(MAX_PAGES_ENV, "1")
    out = tmp_path / "out"
    res = cli_runner.invoke(cli, [*map(str, clips), *cli_args(tiny_models, out), "--no-llm",
                                  "--format", "html", "--interval", "0.2",
                                  "--cache-dir", str(tmp_path / "cache")])
    assert res.exit_code == 1, res.output
    lines = failures(res.output)
    assert len(lines) == 2, res.output
    for clip, line in zip(clips, lines, strict=True):
        assert line.startswith(f"failed: {clip}: cache: "), line
        assert str(tmp_path / "cache" / DB_NAME) in line and "full" in line
        assert "free space" in line and "--no-cache" in line
    assert "internal error" not in res.output


def test_a_damaged_ledger_stops_the_batch_before_any_file(
        tmp_path: Path, clips: list[Path], tiny_models: dict[str, Path],
        cli_runner: CliRunner, chat_server: Any) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    with Ledger(ledger) as book:
        for i in range(60):
            book.record(tmp_path / f"old{i}.mp4", content_hash=f"{i:064x}", settings_fp="fp",
                        status="done", settings={"pad": "x" * 400})
    damage(ledger)
    out = tmp_path / "out"
    res = cli_runner.invoke(cli, [*map(str, clips), *cli_args(tiny_models, out), "--ledger",
                                  str(ledger), "--base-url", chat_server.base_url])
    assert res.exit_code == 2, res.output
    (line,) = failures(res.output)
    assert line.startswith(f"error: ledger: the ledger {ledger} is damaged"), line
    assert "move it aside" in line and "--ledger" in line
    assert not out.exists() or not list(out.iterdir())
    assert chat_server.requests == []


def test_a_full_ledger_says_the_outputs_were_written_and_exits_1(
        tmp_path: Path, clips: list[Path], tiny_models: dict[str, Path],
        cli_runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    # No room beyond the pages the ledger has when opened; a long summary needs more.
    monkeypatch.setenv(MAX_PAGES_ENV, "1")
    ledger, out = tmp_path / "ledger.sqlite3", tmp_path / "out"
    long_summary = " ".join(f"point{i}" for i in range(2000))
    with ChatServer(reply=long_summary) as server:
        res = cli_runner.invoke(cli, [str(clips[0]), *cli_args(tiny_models, out),
                                      "--no-cache", "--ledger", str(ledger),
                                      "--base-url", server.base_url])
    assert res.exit_code == 1, res.output
    written = [out / "a.summary.md", out / "a.summary.json"]
    assert all(p.is_file() for p in written)
    assert json.loads(written[1].read_text(encoding="utf-8"))["summary"]
    assert f"done: {clips[0]}" in res.output
    (line,) = [ln for ln in res.output.splitlines() if ln.startswith("warning:")]
    assert line.startswith(f"warning: {clips[0]}: ledger: done and written ("), line
    assert "not recorded in the ledger" in line and str(ledger) in line and "full" in line
    assert "failed:" not in res.output and "internal error" not in res.output
    with sqlite3.connect(ledger) as con:
        assert con.execute("SELECT COUNT(*) FROM files").fetchone() == (0,)


def break_by_deleting_segments(con: sqlite3.Connection) -> None:
    con.execute("DELETE FROM passages_fts_data")


def break_by_dropping_the_index_table(con: sqlite3.Connection) -> None:
    con.execute("DROP TABLE passages_fts_idx")


@pytest.mark.parametrize("breakage", [break_by_deleting_segments,
                                      break_by_dropping_the_index_table])
def test_search_on_a_broken_index_names_the_fix_and_rebuild_repairs_it(
        tmp_path: Path, cli_runner: CliRunner, breakage: Any) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    Ledger(ledger).close()
    with sqlite3.connect(ledger) as con:
        con.executemany("INSERT INTO passages (path, t, kind, text) VALUES (?, ?, ?, ?)",
                        [(f"/v/{i}.mp4", 1.0, "caption", f"a whiteboard number {i}")
                         for i in range(30)])
    res = cli_runner.invoke(cli, ["search", "whiteboard", "--ledger", str(ledger)])
    assert res.exit_code == 0 and len(res.output.splitlines()) == 20, res.output
    with sqlite3.connect(ledger) as con:
        breakage(con)
    res = cli_runner.invoke(cli, ["search", "whiteboard", "--ledger", str(ledger)])
    assert res.exit_code == 2, res.output
    (line,) = res.output.splitlines()
    assert line.startswith(f"error: search: the search index of the ledger {ledger} is "
                           "damaged"), line
    assert "summarize-video search --rebuild" in line
    res = cli_runner.invoke(cli, ["search", "--rebuild", "whiteboard", "--limit", "50",
                                  "--ledger", str(ledger)])
    assert res.exit_code == 0, res.output
    assert len([ln for ln in res.output.splitlines() if "caption" in ln]) == 30, res.output
    res = cli_runner.invoke(cli, ["search", "number", "--ledger", str(ledger)])
    assert res.exit_code == 0 and len(res.output.splitlines()) == 20, res.output


def test_junk_is_refused_before_any_of_it_is_hashed(
        tmp_path: Path, clips: list[Path], tiny_models: dict[str, Path],
        cli_runner: CliRunner) -> None:
    junk = tmp_path / "junk.mp4"
    with open(junk, "wb") as fh:  # 2 GB, sparse on disk
        fh.truncate(2 << 30)
    out, cache = tmp_path / "out", tmp_path / "cache"
    res = cli_runner.invoke(cli, [str(junk), str(clips[0]), *cli_args(tiny_models, out),
                                  "--no-llm", "--cache-dir", str(cache)])
    assert res.exit_code == 1, res.output
    (line,) = failures(res.output)
    assert line.startswith(f"failed: {junk}: probe: not a readable media file"), line
    # A hashed file is remembered in the cache: the clip is, the junk never was.
    with sqlite3.connect(cache / DB_NAME) as con:
        hashed = {row[0] for row in con.execute("SELECT path FROM file_hashes")}
    assert hashed == {os.path.realpath(clips[0])}
