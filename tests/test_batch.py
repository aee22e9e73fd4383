"""Batches: which files a folder gives, the ledger that makes reruns resume, Ctrl-C, the report."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

from summarize_video import Options, summarize_many
from summarize_video.batch.batch import interrupts_deferred
from summarize_video.catalog.ledger import Ledger, default_ledger_path, settings_fingerprint
from summarize_video.cli.main import cli
from summarize_video.inputs.discovery import Input, discover
from summarize_video.testing.chat_server import ChatServer
from tests.clips import make_clip, mixed_folder
from tests.secrets_scan import SENTINEL
from tests.support import ROOT, cli_args, done_rows, interrupt_once_a_file_is_done

REPLY = "A short test summary. Key moments: 00:00 start."


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0")
    return path


def names(inputs: list[Input], root: Path) -> list[str]:
    assert all(i.error is None for i in inputs), [i.error for i in inputs]
    return [i.path.relative_to(root).as_posix() for i in inputs]


def discovered(paths: list[Path], **kwargs: Any) -> list[Input]:
    """discover() in a thread, so that a FIFO it wrongly opened fails the test, not hangs it."""
    out: list[Input] = []
    worker = threading.Thread(target=lambda: out.extend(discover(paths, **kwargs)), daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "discovery blocked (did it open a FIFO?)"
    return out


# --- discovery --------------------------------------------------------------------------------


def test_include_and_exclude_match_the_path_relative_to_the_folder(tmp_path: Path) -> None:
    for rel in ("a.mp4", "B.mkv", "talks/t1.mp4", "talks/drafts/d.mp4", "music/s.mp3",
                "notes.txt", "talks/readme.md"):
        touch(tmp_path / rel)
    everything = discovered([tmp_path], recursive=True)
    # Sorted case-insensitively by relative path; non-media files quietly left out.
    assert names(everything, tmp_path) == [
        "a.mp4", "B.mkv", "music/s.mp3", "talks/drafts/d.mp4", "talks/t1.mp4"]
    assert names(discovered([tmp_path]), tmp_path) == ["a.mp4", "B.mkv"]
    only_mp4 = discovered([tmp_path], recursive=True, include=["*.mp4"])
    assert names(only_mp4, tmp_path) == ["a.mp4", "talks/drafts/d.mp4", "talks/t1.mp4"]
    talks = discovered([tmp_path], recursive=True, include=["talks/*"])
    assert names(talks, tmp_path) == ["talks/drafts/d.mp4", "talks/t1.mp4"]
    # An excluded folder is not entered; patterns repeat; include and exclude combine.
    pruned = discovered([tmp_path], recursive=True, exclude=["drafts", "*.mp3"])
    assert names(pruned, tmp_path) == ["a.mp4", "B.mkv", "talks/t1.mp4"]
    both = discovered([tmp_path], recursive=True, include=["*.mp4", "*.mkv"],
                      exclude=["talks/*"])
    assert names(both, tmp_path) == ["a.mp4", "B.mkv"]
    # A file named directly is matched by the path as given.
    assert discovered([tmp_path / "a.mp4"], exclude=["a.*"]) == []


def test_a_file_named_twice_is_processed_once(tmp_path: Path) -> None:
    a = touch(tmp_path / "a.mp4")
    touch(tmp_path / "b.mp4")
    (tmp_path / "link.mp4").symlink_to(a)
    got = discovered([a, tmp_path, tmp_path / "a.mp4", tmp_path / "link.mp4"])
    assert [i.path for i in got] == [a, tmp_path / "b.mp4"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifos_are_skipped_without_being_opened(tmp_path: Path) -> None:
    touch(tmp_path / "a.mp4")
    os.mkfifo(tmp_path / "pipe.mp4")
    (tmp_path / "sub").mkdir()
    os.mkfifo(tmp_path / "sub" / "pipe.mkv")
    assert names(discovered([tmp_path], recursive=True), tmp_path) == ["a.mp4"]
    # Named directly it is reported, still without being opened.
    (named,) = discovered([tmp_path / "pipe.mp4"])
    assert named.error is not None
    assert named.error.one_line() == (f"{tmp_path / 'pipe.mp4'}: probe: not a regular file "
                                      "(a FIFO) (name a video or audio file)")


def test_folder_symlinks_never_lead_outside_the_root_or_loop(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    touch(outside / "secret.mp4")
    root = tmp_path / "root"
    touch(root / "a.mp4")
    touch(root / "sub" / "b.mp4")
    (root / "escape").symlink_to(outside, target_is_directory=True)
    (root / "sub" / "loop").symlink_to(root, target_is_directory=True)
    (root / "again").symlink_to(root / "sub", target_is_directory=True)
    (root / "broken.mp4").symlink_to(tmp_path / "nowhere.mp4")
    (root / "leak.mp4").symlink_to(outside / "secret.mp4")  # a file link out of the root
    (root / "self.mp4").symlink_to(root / "self.mp4")  # a link to itself
    got = discovered([root], recursive=True)
    assert names(got, root) == ["a.mp4", "sub/b.mp4"]
    # A file link that stays inside is read, once.
    (root / "sub" / "same.mp4").symlink_to(root / "a.mp4")
    assert len(discovered([root], recursive=True)) == 2
    # Named directly, a link is the user's choice and is followed.
    assert len(discovered([root / "leak.mp4"])) == 1
    # The root itself may be a symlink.
    (tmp_path / "alias").symlink_to(root, target_is_directory=True)
    assert len(discovered([tmp_path / "alias"], recursive=True)) == 2


# --- the ledger, resume, the report -----------------------------------------------------------


def test_settings_fingerprint_follows_result_changing_settings_only(tmp_path: Path) -> None:
    base = Options()
    fp = settings_fingerprint(base)
    assert fp == settings_fingerprint(Options())
    for same in (dict(output_dir=tmp_path), dict(formats=("json",)), dict(workers=3),
                 dict(api_key=SENTINEL), dict(no_cache=True), dict(timeout=5.0)):
        assert settings_fingerprint(base.replace(**same)) == fp, same
    for other in (dict(interval=2.0), dict(caption_model="x"), dict(focus="pricing"),
                  dict(no_llm=True), dict(llm_model="m"), dict(language="de"),
                  dict(caption_context="speech"), dict(sampling="scene")):
        assert settings_fingerprint(base.replace(**other)) != fp, other
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    assert settings_fingerprint(base.replace(prompts_dir=prompts)) == fp
    (prompts / "summary.md").write_text("Summarize $title $duration $notes $timeline",
                                        encoding="utf-8")
    assert settings_fingerprint(base.replace(prompts_dir=prompts)) != fp


def test_ledger_defaults_beside_the_cache(tmp_path: Path, private_cache: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_ledger_path() == private_cache / "ledger.sqlite3"
    assert default_ledger_path(tmp_path) == tmp_path / "ledger.sqlite3"
    monkeypatch.setenv("SUMMARIZE_VIDEO_LEDGER", str(tmp_path / "mine.db"))
    assert default_ledger_path(tmp_path) == tmp_path / "mine.db"


def test_interrupt_is_held_until_the_block_ends() -> None:
    steps = []
    with pytest.raises(KeyboardInterrupt), interrupts_deferred():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        steps.append("finished")
    assert steps == ["finished"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_overall_bar_counts_files_and_estimates_the_time_left() -> None:
    from summarize_video.batch.batch import Outcome
    from summarize_video.cli.batch_view import EtaColumn
    from summarize_video.cli.terminal import Bars

    now = [0.0]
    bars = Bars(Console(file=io.StringIO(), force_terminal=True), enabled=True,
                clock=lambda: now[0])
    bars("files", 0, 4)
    bars("probe", 0, 1)
    (files, probe) = bars.bar.tasks
    assert (files.description, files.total, files.fields["eta"]) == ("files", 4, "")
    bars.files.finished(Outcome(Path("a.mp4"), seconds=0.0, skipped=True))
    now[0] = 30.0
    bars.files.finished(Outcome(Path("b.mp4"), seconds=30.0))
    bars.reset()
    bars("files", 2, 4)
    assert bars.bar.tasks == [files] and files.completed == 2
    assert str(EtaColumn().render(files)) == "ETA 1:00"  # 30 s a file, two left
    assert str(EtaColumn().render(probe)) == ""
    single = Bars(Console(file=io.StringIO(), force_terminal=True), enabled=True)
    single("files", 0, 1)
    assert single.bar.tasks == []  # one file: no overall bar


def test_rerun_skips_done_files_force_and_new_settings_redo_them(
    tmp_path: Path, tiny_models: dict[str, Path], chat_server: Any, cli_runner: CliRunner
) -> None:
    folder = mixed_folder(tmp_path / "in")
    out = tmp_path / "out"
    ledger = tmp_path / "ledger.sqlite3"
    args = [str(folder), *cli_args(tiny_models, out), "--base-url", chat_server.base_url,
            "--llm-model", "test-model", "--ledger", str(ledger)]
    a, b, c = folder / "a.mp4", folder / "b.mp4", folder / "c.mkv"

    first = cli_runner.invoke(cli, args)
    assert first.exit_code == 1, first.output
    lines = first.output.splitlines()
    failed = [ln for ln in lines if ln.startswith("failed:")]
    assert failed == [f"failed: {b}: probe: not a readable media file (Invalid data found when "
                      "processing input) (pass a video or audio file FFmpeg can read)"]
    # The final table, plain lines when not on a terminal.
    head = lines.index(next(ln for ln in lines if ln.startswith("batch: ")))
    assert lines[head].startswith("batch: 2 done, 0 skipped, 1 failed in ")
    table = [ln.split() for ln in lines[head + 1:head + 4]]
    assert [(row[0], row[-1]) for row in table] == [("done", str(a)), ("failed", str(b)),
                                                    ("done", str(c))]
    assert done_rows(ledger) == [(str(a), "done"), (str(b), "failed"), (str(c), "done")]
    assert len(chat_server.requests) == 2

    second = cli_runner.invoke(cli, args)
    assert second.exit_code == 1  # b still fails: failures are retried
    assert f"skipped: {a} (done before" in second.output
    assert f"skipped: {c} (done before" in second.output
    assert "batch: 0 done, 2 skipped, 1 failed" in second.output
    assert len(chat_server.requests) == 2

    args.remove(str(folder))
    forced = cli_runner.invoke(cli, [str(a), str(c), *args, "--force"])
    assert forced.exit_code == 0, forced.output
    assert "skipped:" not in forced.output and "batch: 2 done, 0 skipped, 0 failed" in forced.output
    assert len(chat_server.requests) == 4

    # Other result-changing settings: not skipped; the same again: skipped.
    for expected in (2, 0):
        rerun = cli_runner.invoke(cli, [str(a), str(c), *args, "--interval", "1"])
        assert rerun.exit_code == 0, rerun.output
        assert rerun.output.count("skipped:") == 2 - expected
    assert len(chat_server.requests) == 6
    # A deleted output is made again.
    (out / "a.summary.md").unlink()
    rerun = cli_runner.invoke(cli, [str(a), *args, "--interval", "1"])
    assert rerun.exit_code == 0 and "skipped:" not in rerun.output
    assert (out / "a.summary.md").is_file()


def test_summarize_many_yields_skipped_outcomes(tmp_path: Path,
                                                model_opts: dict[str, Any]) -> None:
    a = make_clip(tmp_path / "a.mp4", seconds=1.0, fps=10, audio=False)
    opts = dict(model_opts, no_llm=True, output_dir=tmp_path / "out",
                formats="json")
    first = list(summarize_many([a, tmp_path / "missing.mp4"], **opts))
    assert [o.status for o in first] == ["done", "failed"]
    assert first[0].result is not None and not first[0].skipped
    (again, missing) = summarize_many([a, tmp_path / "missing.mp4"], **opts)
    assert again.skipped and again.ok and again.status == "skipped" and again.result is None
    assert again.outputs == (tmp_path / "out" / "a.summary.json",)
    assert missing.error is not None and missing.status == "failed"
    (plain,) = summarize_many([a], resume=False, **opts)
    assert plain.status == "done" and plain.result is not None
    with Ledger(tmp_path / "own.sqlite3") as book:
        (fresh,) = summarize_many([a], ledger=book, write=False, **opts)
        assert fresh.status == "done" and fresh.outputs == ()
        (seen,) = summarize_many([a], ledger=book, write=False, **opts)
        assert seen.skipped
        entry = book.get(a)
        assert entry is not None and entry.done and entry.outputs == ()
        assert entry.settings["interval_s"] == 5.0 and len(entry.content_hash) == 64


def test_ctrl_c_abandons_the_current_file_and_the_rerun_resumes(
    tmp_path: Path, tiny_models: dict[str, Path], model_opts: dict[str, Any], cli_runner: CliRunner
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    clips = [make_clip(folder / f"{n}.mp4", seconds=2.0 + k / 5, fps=10, audio=True)
             for k, n in enumerate("abcd")]
    # Captions and transcripts cached beforehand (the subprocess shares this test's cache), so
    # that the subprocess spends its time starting and in the slow summaries, not loading
    # models: the interrupt lands in the reasoning step of a file.
    for warm in summarize_many(clips, no_llm=True, write=False, resume=False,
                               **model_opts):
        assert warm.ok
    out = tmp_path / "out"
    ledger = tmp_path / "ledger.sqlite3"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    with ChatServer(reply=REPLY, delay=1.0) as server:  # every summary takes a second
        args = [str(folder), *cli_args(tiny_models, out), "--base-url", server.base_url,
                "--llm-model", "test-model", "--ledger", str(ledger)]
        proc = subprocess.Popen([sys.executable, "-m", "summarize_video", *args], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stderr = interrupt_once_a_file_is_done(proc, ledger)
        assert proc.returncode == 130, stderr
        assert "Traceback" not in stderr and "interrupted" in stderr
        rows = done_rows(ledger)
        finished = [c for c in clips if (str(c), "done") in rows]
        assert 1 <= len(finished) < len(clips) and len(rows) == len(finished), rows
        assert f"batch: {len(finished)} done, 0 skipped, 0 failed" in stderr
        # The finished files are whole; the abandoned one left nothing, not even a temp file.
        assert sorted(os.listdir(out)) == sorted(
            f"{c.stem}.summary.{ext}" for c in finished for ext in ("json", "md"))
        for c in finished:
            data = json.loads((out / f"{c.stem}.summary.json").read_text(encoding="utf-8"))
            assert data["summary"] == REPLY and data["captions"]

        rerun = cli_runner.invoke(cli, args)
        assert rerun.exit_code == 0, rerun.output
        assert [ln.split()[1] for ln in rerun.output.splitlines()
                if ln.startswith("skipped:")] == [str(c) for c in finished]
        left = len(clips) - len(finished)
        assert f"batch: {left} done, {len(finished)} skipped, 0 failed" in rerun.output
    assert done_rows(ledger) == [(str(c), "done") for c in clips]
    assert len(os.listdir(out)) == 2 * len(clips)
