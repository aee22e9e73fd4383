"""SIGTERM and Ctrl-C in the middle of a real run: the real CLI in a subprocess, a URL input
from a real HTTP server on 127.0.0.1, decoding children at work, a slow chat server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from summarize_video.errors import EXIT_INTERRUPTED, EXIT_TERMINATED
from summarize_video.testing.chat_server import ChatServer
from tests.clips import make_clip
from tests.support import ROOT, cli_args

# A line the run logs (with -v) while frames are being decoded and captioned in children
# ("energy gate: ..." or "silero gate: ...").
WORK_STARTED = " gate: "
NOISE = ("Traceback", "Fatal Python error", "BrokenPipeError", "Exception ignored")


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def served_clip(tmp_path: Path) -> Iterator[str]:
    """The URL of a 15 s clip served by a stdlib HTTP server on 127.0.0.1."""
    site = tmp_path / "site"
    site.mkdir()
    make_clip(site / "talk.mp4", seconds=15.0, fps=25, audio=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/talk.mp4"
    finally:
        server.shutdown()
        server.server_close()


def _stop_mid_run(args: list[str], env: dict[str, str], signum: int, group: bool
                  ) -> tuple[int, str]:
    """Start the CLI, send ``signum`` (to its whole process group when ``group``, as a
    terminal's Ctrl-C or a service manager does) once work has started; its exit code and
    everything written to its stderr, read to the end (children inherit the pipe)."""
    proc = subprocess.Popen([sys.executable, "-m", "summarize_video", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if WORK_STARTED in line:
                break
        else:
            raise AssertionError("the run ended before work started:\n" + "".join(lines))
        if group:
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)
        _, rest = proc.communicate(timeout=60)  # until every holder of the pipe closed it
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    return proc.returncode, "".join(lines) + rest


@pytest.mark.parametrize(("signum", "group", "code", "word"), [
    (signal.SIGTERM, False, EXIT_TERMINATED, "terminated"),
    (signal.SIGTERM, True, EXIT_TERMINATED, "terminated"),
    (signal.SIGINT, True, EXIT_INTERRUPTED, "interrupted"),
], ids=["sigterm", "sigterm-group", "ctrl-c-group"])
def test_a_signal_mid_run_cleans_up_and_says_so_once(
    tmp_path: Path, tiny_models: dict[str, Path], served_clip: str, signum: int, group: bool,
    code: int, word: str,
) -> None:
    out, temp = tmp_path / "out", tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    with ChatServer(reply="A summary.", delay=30.0) as server:
        args = [served_clip, *cli_args(tiny_models, out), "--base-url", server.base_url,
                "--llm-model", "test-model", "--interval", "0.5", "--no-cache", "-v"]
        returncode, stderr = _stop_mid_run(args, env, signum, group)
    assert returncode == code, stderr
    said = [ln for ln in stderr.splitlines()
            if "interrupted" in ln.lower() or "terminated" in ln.lower()]
    assert said == [word], stderr
    assert not [n for n in NOISE if n in stderr], stderr
    assert not out.exists() or os.listdir(out) == [], os.listdir(out)  # nothing half-written
    assert os.listdir(temp) == [], "the download folder was left behind"


def test_a_signal_waits_while_the_import_lock_is_held() -> None:
    """Raised while the import lock is held, the exception would leave it held for ever and
    every other thread's next import would wait for ever (a run stopped mid-import hung): the
    handler is put off until the lock is free, then runs. In a process of its own: holding
    the import lock in the test process stops its other threads."""
    script = """
import _imp, os, signal, time
from summarize_video.cli.signals import _import_safe
calls = []
signal.signal(signal.SIGUSR1, _import_safe(lambda signum, frame: calls.append(signum)))
_imp.acquire_lock()
try:
    os.kill(os.getpid(), signal.SIGUSR1)
    time.sleep(0.3)  # retried every 50 ms, put off each time
    held = list(calls)
finally:
    _imp.release_lock()
deadline = time.monotonic() + 5
while not calls and time.monotonic() < deadline:
    time.sleep(0.01)
os.kill(os.getpid(), signal.SIGUSR1)  # lock free: at once
time.sleep(0.05)
print(held, calls)
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    usr1 = int(signal.SIGUSR1)
    assert done.stdout.split("\n")[0] == f"[] [{usr1}, {usr1}]"
