"""Output ownership: names kept per input across runs, files we did not write left alone, and
one run at a time per file (claims in the ledger)."""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from summarize_video import summarize_many
from summarize_video.catalog.ledger import SCHEMA, Ledger
from summarize_video.cli.main import cli
from summarize_video.testing.chat_server import ChatServer
from tests.clips import make_clip
from tests.support import ROOT, cli_args

REPLY = "A short test summary. Key moments: 00:00 start."


def clip_at(path: Path, seconds: float = 1.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return make_clip(path, seconds=seconds, fps=10, audio=False)


def described(out: Path, stem: str) -> str:
    """The input a ``STEM.summary.json`` describes."""
    return json.loads((out / f"{stem}.summary.json").read_text(encoding="utf-8"))["video"]["path"]


def skipped(output: str) -> list[str]:
    return [ln.split()[1] for ln in output.splitlines() if ln.startswith("skipped:")]


@pytest.fixture
def run_cli(tmp_path: Path, tiny_models: dict[str, Path], chat_server: Any,
            cli_runner: CliRunner) -> Any:
    """Run the CLI on paths with the tiny models, the chat server, ``out`` and one ledger."""

    def invoke(*extra: str, out: Path | None = None, ledger: str = "ledger.sqlite3") -> Any:
        args = [*extra, *cli_args(tiny_models, out or tmp_path / "out"), "--base-url",
                chat_server.base_url, "--llm-model", "test-model", "--ledger",
                str(tmp_path / ledger)]
        return cli_runner.invoke(cli, args)

    return invoke


def test_an_input_never_takes_another_inputs_output_names_across_runs(
    tmp_path: Path, run_cli: Any, chat_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    a = clip_at(tmp_path / "a" / "clip.mp4", 1.0)
    b = clip_at(tmp_path / "b" / "clip.mp4", 1.2)
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING):
        assert run_cli(str(a)).exit_code == 0
        second = run_cli(str(b))
    assert second.exit_code == 0, second.output
    assert described(out, "clip") == str(a) and described(out, "clip-b") == str(b)
    assert f"{b}: clip.* in {out} belong to {a}; writing clip-b.* instead" in caplog.text
    assert len(chat_server.requests) == 2
    # Each input keeps its own name: both are done before, and the files still describe them.
    for path in (a, b, a):
        rerun = run_cli(str(path))
        assert rerun.exit_code == 0 and skipped(rerun.output) == [str(path)], rerun.output
    assert described(out, "clip") == str(a) and described(out, "clip-b") == str(b)
    assert len(chat_server.requests) == 2

    # A batch of both, then b alone: b keeps the name the batch gave it.
    both = run_cli(str(a), str(b), out=tmp_path / "out2", ledger="two.sqlite3")
    assert both.exit_code == 0, both.output
    alone = run_cli(str(b), out=tmp_path / "out2", ledger="two.sqlite3")
    assert skipped(alone.output) == [str(b)], alone.output
    assert described(tmp_path / "out2", "clip-b") == str(b)
    assert described(tmp_path / "out2", "clip") == str(a)


def test_resume_checks_the_outputs_are_still_the_ones_written(
    tmp_path: Path, run_cli: Any, chat_server: Any
) -> None:
    a = clip_at(tmp_path / "in" / "talk.mp4")
    out = tmp_path / "out"
    assert run_cli(str(a)).exit_code == 0
    written = out / "talk.summary.json"
    data = json.loads(written.read_text(encoding="utf-8"))
    data["summary"] = "changed by hand"
    written.write_text(json.dumps(data), encoding="utf-8")
    rerun = run_cli(str(a))
    assert rerun.exit_code == 0 and skipped(rerun.output) == [], rerun.output
    assert json.loads(written.read_text(encoding="utf-8"))["summary"] == REPLY
    assert len(chat_server.requests) == 2
    assert skipped(run_cli(str(a)).output) == [str(a)]


def test_a_file_we_did_not_write_is_not_replaced_without_overwrite(
    tmp_path: Path, run_cli: Any, chat_server: Any
) -> None:
    talk = clip_at(tmp_path / "in" / "talk.mp4")
    out = tmp_path / "out"
    out.mkdir()
    mine = out / "talk.summary.md"
    mine.write_text("# My own notes\n", encoding="utf-8")
    refused = run_cli(str(talk))
    assert refused.exit_code == 1, refused.output
    failed = [ln for ln in refused.output.splitlines() if ln.startswith("failed:")]
    assert failed == [f"failed: {talk}: write: {mine} exists and was not written by "
                      "summarize-video; nothing was written for this file (pass --overwrite "
                      "to replace it, or choose another --output-dir)"]
    assert "Traceback" not in refused.output
    assert mine.read_text(encoding="utf-8") == "# My own notes\n"
    assert sorted(os.listdir(out)) == ["talk.summary.md"]  # no partial outputs
    assert chat_server.requests == []  # refused before the paid call

    replaced = run_cli(str(talk), "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert described(out, "talk") == str(talk)
    assert "## Summary" in mine.read_text(encoding="utf-8")
    # What we wrote is ours: a later run with other settings replaces it without the flag.
    again = run_cli(str(talk), "--interval", "0.5")
    assert again.exit_code == 0 and skipped(again.output) == [], again.output
    # A marker-less format: only the ledger vouches for it.
    (out / "talk.captions.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nmine\n\n")
    srt = run_cli(str(talk), "--format", "srt")
    assert srt.exit_code == 1 and "talk.captions.srt exists" in srt.output, srt.output
    ours = run_cli(str(talk), "--format", "srt", out=tmp_path / "other")
    assert ours.exit_code == 0
    assert run_cli(str(talk), "--format", "srt", "--interval", "2",
                   out=tmp_path / "other").exit_code == 0


def test_an_older_ledger_is_migrated_and_keeps_resuming(
    tmp_path: Path, run_cli: Any, chat_server: Any
) -> None:
    a = clip_at(tmp_path / "in" / "talk.mp4")
    assert run_cli(str(a), "--format", "md,srt").exit_code == 0
    ledger = tmp_path / "ledger.sqlite3"
    with sqlite3.connect(ledger) as con:  # as a version 1 ledger was
        con.execute("DROP TABLE outputs")
        con.execute("DROP TABLE claims")
        con.execute("PRAGMA user_version = 1")
    rerun = run_cli(str(a), "--format", "md,srt")
    assert skipped(rerun.output) == [str(a)], rerun.output
    with sqlite3.connect(ledger) as con:
        assert con.execute("PRAGMA user_version").fetchone() == (SCHEMA,)
        owners = con.execute("SELECT owner FROM outputs").fetchall()
    assert owners == [(str(a),), (str(a),)]


def sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def claim_by(ledger: Path, path: Path, pid: int) -> None:
    Ledger(ledger).close()
    with sqlite3.connect(ledger) as con:
        con.execute("INSERT INTO claims VALUES (?, ?, ?, 0)",
                    (str(path), pid, socket.gethostname()))


def test_a_file_claimed_by_a_live_run_is_left_to_it_and_a_dead_runs_claim_is_taken_over(
    tmp_path: Path, run_cli: Any, chat_server: Any
) -> None:
    a = clip_at(tmp_path / "in" / "talk.mp4")
    ledger = tmp_path / "ledger.sqlite3"
    live = sleeper()
    try:
        claim_by(ledger, a, live.pid)
        busy = run_cli(str(a))
    finally:
        live.kill()
        live.wait()
    assert busy.exit_code == 0, busy.output
    assert f"skipped: {a} (being summarized by another run (pid {live.pid}))" in busy.output
    assert chat_server.requests == [] and not (tmp_path / "out" / "talk.summary.md").exists()
    # The same pid is dead now: its claim is stale.
    taken = run_cli(str(a))
    assert taken.exit_code == 0 and skipped(taken.output) == [], taken.output
    assert len(chat_server.requests) == 1
    with sqlite3.connect(ledger) as con:
        assert con.execute("SELECT * FROM claims").fetchall() == []  # released


def test_two_runs_over_one_folder_summarize_each_file_once(
    tmp_path: Path, tiny_models: dict[str, Path], model_opts: dict[str, Any]
) -> None:
    folder = tmp_path / "in"
    clips = [clip_at(folder / f"{n}.mp4", 1.0 + k / 5) for k, n in enumerate("abc")]
    # Captions cached first (the runs share this test's cache): the runs spend their time in
    # the slow summaries, so they overlap.
    for warm in summarize_many(clips, no_llm=True, write=False, resume=False, **model_opts):
        assert warm.ok
    out, ledger = tmp_path / "out", tmp_path / "ledger.sqlite3"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    with ChatServer(reply=REPLY, delay=2.0) as server:
        args = [sys.executable, "-m", "summarize_video", str(folder),
                *cli_args(tiny_models, out), "--base-url", server.base_url,
                "--llm-model", "test-model", "--ledger", str(ledger)]
        runs = [subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for _ in range(2)]
        results = [run.communicate(timeout=180) for run in runs]
        assert [run.returncode for run in runs] == [0, 0], results
        assert len(server.requests) == len(clips)  # one paid summary per file
    stderr = "".join(err for _, err in results)
    assert "being summarized by another run (pid " in stderr
    assert "Traceback" not in stderr
    for c in clips:
        assert described(out, c.stem) == str(c)
    with sqlite3.connect(ledger) as con:
        assert con.execute("SELECT * FROM claims").fetchall() == []
