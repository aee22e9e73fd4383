"""What a user sees in a terminal: results on stdout that survive the live progress display,
one error style, no third-party progress bars, and output files with the usual permissions.

The terminal tests run the real CLI in a pseudo-terminal (``pty``) and render what it wrote
with a terminal emulator (``pyte``), scrollback included, as a user would see it.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from summarize_video.outputs.writers import atomic_write_text

# -- output files' permissions ----------------------------------------------------------------


@contextmanager
def _umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_new_output_files_get_the_usual_permissions_under_the_umask(tmp_path: Path,
                                                                     mask: int) -> None:
    target = tmp_path / "clip.summary.md"
    with _umask(mask):
        atomic_write_text(target, "# summary\n")
    assert _mode(target) == 0o666 & ~mask


def test_rewriting_an_output_file_keeps_its_permissions(tmp_path: Path) -> None:
    target = tmp_path / "clip.summary.md"
    target.write_text("old")
    os.chmod(target, 0o644)
    with _umask(0o077):
        atomic_write_text(target, "# new\n")
    assert target.read_text() == "# new\n"
    assert _mode(target) == 0o644


# -- the real CLI in a pseudo-terminal --------------------------------------------------------

COLS, ROWS = 100, 24
# A progress bar line (a stage or the files, then rich's bar glyphs): none may be left on
# screen after a run.
STALE_BAR = re.compile(r"^\s*(probe|download|caption|transcribe|reason|files)\b.*━")


def _run_in_pty(args: list[str], *, timeout: float = 240.0,
                env: dict[str, str] | None = None) -> tuple[int, bytes]:
    """Run ``python -m summarize_video ARGS`` with stdin, stdout and stderr on one
    pseudo-terminal of COLS x ROWS, as in a terminal window; its exit code and every byte it
    wrote there."""
    import fcntl
    import pty
    import select
    import struct
    import sys
    import termios
    import time

    full_env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(COLS),
                "LINES": str(ROWS), "PYTHONFAULTHANDLER": "1", **(env or {})}  # a crash says where
    for name in ("NO_COLOR", "OPENAI_LOG"):  # colours on; the client's debug log off
        full_env.pop(name, None)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI on the terminal
        try:
            os.execve(sys.executable, [sys.executable, "-m", "summarize_video", *args], full_env)
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if not ready:
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        else:
            os.kill(pid, 9)
            pytest.fail(f"the CLI ran past {timeout} s in the terminal")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), b"".join(chunks)


def _rendered(raw: bytes) -> list[str]:
    """What the terminal shows after the run, scrollback first, each line right-stripped."""
    pyte = pytest.importorskip("pyte")
    screen = pyte.HistoryScreen(COLS, ROWS, history=10_000, ratio=0.5)
    stream = pyte.ByteStream(screen)
    stream.feed(raw)
    lines = [_line_text(line, COLS) for line in screen.history.top]
    lines += [row.rstrip() for row in screen.display]
    return lines


def _line_text(line: object, cols: int) -> str:
    return "".join(line[x].data for x in range(cols)).rstrip()  # type: ignore[index]


def _numbered_replies() -> object:
    """A reply callable: ``Summary number N of this video.`` for the Nth request."""
    import itertools

    counter = itertools.count(1)
    return lambda body: f"Summary number {next(counter)} of this video."


def _clips(folder: Path, n: int) -> list[Path]:
    from tests.clips import make_clip

    folder.mkdir()
    return [make_clip(folder / f"clip{i}.mp4", seconds=4.0, fps=10) for i in range(n)]


@pytest.mark.parametrize("files", [1, 3])
def test_every_summary_stays_on_a_real_terminal_and_no_bar_is_left(
        tmp_path: Path, tiny_models: dict[str, Path], files: int) -> None:
    from summarize_video.testing.chat_server import ChatServer
    from tests.support import cli_args

    clips = _clips(tmp_path / "in", files)
    with ChatServer(reply=_numbered_replies(), delay=0.3) as server:  # type: ignore[arg-type]
        code, raw = _run_in_pty([*map(str, clips), *cli_args(tiny_models, tmp_path / "out"),
                                 "--interval", "1", "--base-url", server.base_url,
                                 "--llm-model", "test-model"])
    lines = _rendered(raw)
    text = "\n".join(lines)
    assert code == 0, text
    for n in range(1, files + 1):
        assert f"Summary number {n} of this video." in lines, text
    assert not [line for line in lines if STALE_BAR.search(line)], text
    assert sum(line.startswith("done: ") for line in lines) == files, text


# -- piped: results on stdout, messages on stderr ---------------------------------------------


@pytest.mark.parametrize("quiet", [True, False])
def test_piped_run_results_on_stdout_no_library_bars_and_quiet_hides_only_messages(
        tmp_path: Path, tiny_models: dict[str, Path], chat_server: object, quiet: bool) -> None:
    from tests.clips import make_clip
    from tests.support import cli_args, run_console

    clip = make_clip(tmp_path / "clip.mp4", seconds=3.0, fps=10)
    res = run_console(str(clip), *cli_args(tiny_models, tmp_path / "out"), "--interval", "1",
                      "--base-url", chat_server.base_url,  # type: ignore[attr-defined]
                      "--llm-model", "test-model", *(["-q"] if quiet else []),
                      env={"OPENAI_LOG": ""})
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "A short test summary. Key moments: 00:00 start."
    for bar in ("Loading weights", "Writing model shards", "it/s]", "%|"):
        assert bar not in res.stderr
    if quiet:
        assert res.stderr == ""
    else:
        assert "done: " in res.stderr and "reasoner: openai test-model" in res.stderr


# -- one error style --------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (["--intervall", "3", "x.mp4"], "error: no such option '--intervall'"),
    (["x.mp4", "--interval", "-1"], "error: invalid value for '--interval'"),
    (["search"], "error: missing argument 'QUERY'"),
    (["x.mp4", "--format", "bogus"], "error: options: unknown output format bogus"),
])
def test_usage_errors_are_one_lower_case_error_line_with_exit_2(
        args: list[str], message: str) -> None:
    from tests.support import run_console

    res = run_console(*args)
    assert res.returncode == 2, res.stderr
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), res.stderr
    assert "Error:" not in res.stderr and "Usage:" not in res.stderr


def test_ray_flags_without_the_ray_executor_name_the_flags(tmp_path: Path) -> None:
    from tests.support import run_console

    res = run_console(str(tmp_path / "x.mp4"), "--ray-workers", "2", "--no-llm")
    assert res.returncode == 2
    assert res.stderr.strip() == ("error: options: --ray-workers only apply with --executor ray "
                                  "(add --executor ray, or leave them out)")
    assert "executor='ray'" not in res.stderr


# -- progress: units, an ETA for files side by side, a status while Ray starts ----------------


def _bars(now: list[float]) -> object:
    import io

    from rich.console import Console

    from summarize_video.cli.terminal import Bars

    return Bars(Console(file=io.StringIO(), force_terminal=True, width=100), enabled=True,
                clock=lambda: now[0])


def test_eta_counts_files_that_run_side_by_side() -> None:
    from summarize_video.batch.batch import Outcome
    from summarize_video.cli.batch_view import EtaColumn

    now = [0.0]
    bars: Any = _bars(now)
    bars("files", 0, 8)
    now[0] = 10.0  # four workers: four files of 10 s each, done together after 10 s
    for name in "abcd":
        bars.files.finished(Outcome(Path(f"{name}.mp4"), seconds=10.0))
    bars("files", 4, 8)
    (files,) = bars.bar.tasks
    assert str(EtaColumn().render(files)) == "ETA 0:10"  # not 4 x 10 s


def test_stages_show_their_units() -> None:
    from summarize_video.cli.batch_view import AmountColumn

    bars: Any = _bars([0.0])
    bars("download", 2048, 10240)  # KiB
    bars("caption", 12, 60)  # seconds of video
    bars("files", 1, 3)
    shown = {t.description: str(AmountColumn().render(t)) for t in bars.bar.tasks}
    assert shown == {"download": "2.0/10.0 MB", "caption": "12/60 s of video",
                     "files": "1/3 files"}


def test_a_status_shows_while_ray_starts_until_the_first_progress() -> None:
    bars: Any = _bars([0.0])
    bars.wait("starting Ray")
    assert [t.description for t in bars.bar.tasks] == ["starting Ray"]
    assert bars.bar.tasks[0].total is None  # a pulsing bar: something moves on screen
    bars("files", 0, 3)
    assert [t.description for t in bars.bar.tasks] == ["files"]


def test_starting_ray_is_said_when_not_on_a_terminal(tmp_path: Path) -> None:
    import subprocess
    import sys

    pytest.importorskip("ray")
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"")
    proc = subprocess.Popen([sys.executable, "-m", "summarize_video", str(clip), "--executor",
                             "ray", "--no-llm", "--ray-address", "127.0.0.1:1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()  # said before Ray is asked for anything
    finally:
        proc.kill()
        proc.wait()
    assert first == "starting Ray...\n"


def test_transcription_progress_counts_seconds_of_audio(tmp_path: Path,
                                                        tiny_models: dict[str, Path]) -> None:
    from summarize_video.pipeline.summarizer import Summarizer
    from tests.clips import make_clip
    from tests.support import model_options

    clip = make_clip(tmp_path / "clip.mp4", seconds=5.0, fps=5)
    events: list[tuple[str, int, int | None]] = []
    summarizer = Summarizer(_options(model_options(tiny_models), tmp_path),
                            progress=lambda *e: events.append(e))
    summarizer.run(clip)
    heard = [(done, total) for stage, done, total in events if stage == "transcribe"]
    assert heard[0] == (0, None) and heard[-1] == (5, 5)
    assert [d for d, _ in heard] == sorted(d for d, _ in heard)  # it only goes forward
    captioned = [(done, total) for stage, done, total in events if stage == "caption"]
    assert captioned[-1] == (5, 5)  # seconds of video


def _options(values: dict[str, Any], tmp_path: Path) -> Any:
    from summarize_video.options import Options

    return Options.from_kwargs(None, **values, no_llm=True, interval=1.0,
                               output_dir=tmp_path / "out")


def test_yt_dlp_downloads_report_their_progress(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    from summarize_video.inputs.urls import fetch

    class YoutubeDL:  # yt-dlp's interface, as far as a download goes (no network here)
        def __init__(self, options: dict[str, Any]) -> None:
            self.options = options

        def __enter__(self) -> YoutubeDL:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def download(self, urls: list[str]) -> None:
            for hook in self.options.get("progress_hooks", []):
                hook({"status": "downloading", "downloaded_bytes": 1 << 20,
                      "total_bytes_estimate": 4 << 20})
                hook({"status": "finished", "downloaded_bytes": 4 << 20,
                      "total_bytes": 4 << 20})
            target = self.options["outtmpl"].replace("%(title).80B [%(id)s].%(ext)s", "a.mp4")
            Path(target).write_bytes(b"\0" * 16)

    monkeypatch.setitem(sys.modules, "yt_dlp", types.SimpleNamespace(YoutubeDL=YoutubeDL))
    events: list[tuple[str, int, int | None]] = []
    with fetch("http://127.0.0.1:9/watch?v=abc", progress=lambda *e: events.append(e)) as got:
        assert got.name == "a.mp4"
    assert events == [("download", 1024, 4096), ("download", 4096, 4096)]  # KiB, as MB shown
