"""Nothing lost: kill -9 while writing or mid-batch, read-only and full output folders.

The kills are real SIGKILLs of real child processes; the read-only and full folders are real
mounts (a read-only bind mount and a 64 KiB tmpfs) where this user may mount, skipped where not.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from summarize_video.catalog.ledger import Ledger
from summarize_video.cli.main import cli
from summarize_video.outputs.writers import STALE_TMP_S, atomic_write_text
from summarize_video.testing.chat_server import ChatServer
from tests.clips import make_clip
from tests.support import cli_args

WRITER = """
import json, sys
from pathlib import Path
from summarize_video.outputs.writers import atomic_write_text
target = Path(sys.argv[1])
version = 0
while True:
    version += 1
    body = {"version": version, "filler": "x" * 4_000_000, "end": True}
    atomic_write_text(target, json.dumps(body))
    print(version, flush=True)
"""


def test_kill_9_during_output_writes_leaves_the_old_file_or_the_new_never_a_torn_one(
        tmp_path: Path) -> None:
    target = tmp_path / "clip.summary.json"
    rng = random.Random(7)
    versions = []
    for _ in range(12):
        child = subprocess.Popen([sys.executable, "-c", WRITER, str(target)],
                                 stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        child.stdout.readline()  # one whole write done: from here on, kill at any moment
        time.sleep(rng.uniform(0.0, 0.3))
        child.send_signal(signal.SIGKILL)
        child.wait()
        data = json.loads(target.read_text(encoding="utf-8"))  # never a torn file
        assert data["end"] is True and len(data["filler"]) == 4_000_000
        versions.append(data["version"])
    assert max(versions) > 1  # kills really landed after several writes


def test_temporaries_of_a_killed_writer_are_swept_by_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "clip.summary.md"
    stale = tmp_path / ".clip.summary.md.k1ll3d.tmp"
    fresh = tmp_path / ".clip.summary.md.wr1t1ng.tmp"  # another writer, right now
    other = tmp_path / ".other.summary.md.k1ll3d.tmp"
    for p in (stale, fresh, other):
        p.write_text("half")
    old = time.time() - STALE_TMP_S - 5
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    atomic_write_text(target, "# whole\n")
    assert target.read_text() == "# whole\n"
    assert not stale.exists() and fresh.exists() and other.exists()


def test_kill_9_mid_batch_then_the_rerun_resumes(tmp_path: Path,
                                                 tiny_models: dict[str, Path]) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a", "b", "c"):
        make_clip(folder / f"{name}.mp4", seconds=2.0, fps=10)
    out = tmp_path / "out"
    ledger = tmp_path / "ledger.sqlite3"
    with ChatServer(reply="Done.", delay=1.0) as srv:
        args = [sys.executable, "-m", "summarize_video", str(folder),
                *cli_args(tiny_models, out), "--base-url", srv.base_url, "--format", "json",
                "--ledger", str(ledger)]
        child = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 240
        while not (out / "a.summary.json").exists():
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait()
        done_before = sorted(p.name for p in out.glob("*.summary.json"))
        assert "c.summary.json" not in done_before  # killed mid-batch
        for path in out.glob("*.summary.json"):
            assert json.loads(path.read_text())["summary"] == "Done."
        rerun = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "skipped" in rerun.stdout + rerun.stderr
    for name in ("a", "b", "c"):
        assert json.loads((out / f"{name}.summary.json").read_text())["summary"] == "Done."
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    with Ledger(ledger) as book:
        paths = [e.path for e in book.entries()]
    assert sorted(paths) == sorted(set(paths)) and len(paths) == 3


@pytest.fixture
def mount_point(tmp_path: Path) -> Iterator[Path]:
    point = tmp_path / "mnt"
    point.mkdir()
    yield point
    subprocess.run(["umount", "-l", str(point)], capture_output=True)


def mount(args: list[str]) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting needs root")
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here: {done.stderr.strip()}")


def test_read_only_output_folder_is_refused_before_any_work(
        tmp_path: Path, mount_point: Path, tiny_models: dict[str, Path],
        caplog: pytest.LogCaptureFixture, cli_runner: CliRunner) -> None:
    clip = make_clip(tmp_path / "c.mp4", seconds=2.0, fps=10)
    if os.geteuid() == 0:
        mount(["--bind", str(mount_point), str(mount_point)])
        mount(["-o", "remount,bind,ro", str(mount_point)])
    else:
        mount_point.chmod(0o555)
    with ChatServer() as srv:
        res = cli_runner.invoke(cli, [str(clip), *cli_args(tiny_models, mount_point),
                                       "--base-url", srv.base_url])
        assert srv.requests == []
    assert res.exit_code == 2, res.output
    line = next(ln for ln in res.output.splitlines() if "not writable" in ln)
    assert str(mount_point) in line and "--output-dir" in line
    assert "loading whisper" not in caplog.text and not list(mount_point.iterdir())


def test_full_output_folder_fails_that_write_whole_and_keeps_the_work(
        tmp_path: Path, mount_point: Path, tiny_models: dict[str, Path],
        cli_runner: CliRunner) -> None:
    clip = make_clip(tmp_path / "c.mp4", seconds=2.0, fps=10)
    mount(["-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)])
    (mount_point / "ballast").write_bytes(b"\0" * 15 * 4096)  # one 4 KiB page left
    with ChatServer(reply="Fits on disk.") as srv:
        args = [str(clip), *cli_args(tiny_models, mount_point), "--base-url", srv.base_url,
                "--format", "json,html"]
        res = cli_runner.invoke(cli, args)
    assert res.exit_code == 1, res.output
    line = next(ln for ln in res.output.splitlines() if "No space left" in ln)
    assert "c.mp4" in line and "c.summary" in line
    assert not [p for p in mount_point.iterdir() if p.name.endswith(".tmp")]
    for path in mount_point.glob("c.summary.json"):
        assert json.loads(path.read_text())  # whole, or absent
    # Space freed: the rerun only writes (captions and transcript come from the cache).
    (mount_point / "ballast").unlink()
    with ChatServer(reply="Fits on disk.") as srv:
        res = cli_runner.invoke(cli, [*args[:-4], "--base-url", srv.base_url, "--format",
                                       "json,html"])
    assert res.exit_code == 0, res.output
    data = json.loads((mount_point / "c.summary.json").read_text())
    assert data["cache"] == {"captions": "hit", "transcript": "hit"}
    assert (mount_point / "c.summary.html").stat().st_size > 0
