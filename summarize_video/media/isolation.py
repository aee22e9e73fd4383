"""Run media work in a child process under a watchdog: a file that hangs or crashes FFmpeg
costs that file, never the run.

FFmpeg parses whatever bytes it is given. A damaged file can make a demuxer scan forever (a
recorder's preallocated file of zeros reads as one endless resync) or, rarely, crash the
process. In-process neither can be stopped: a thread stuck in C cannot be killed, and a crash
takes the whole batch with it. So probing, frame sampling and audio decoding each run in a
plain ``python -c`` child (see ``parallel`` for why not multiprocessing) that streams its
results back over a pipe. The child reports progress (packets read, frames decoded) a few times
a second; when none comes for ``timeout`` seconds the child and everything it started are
killed and a ``DecodeError`` names the file, the stage and the option that allows more time.
A child that dies is reported the same way, with its signal.

Messages are pickled tuples, parent to child: the job; child to parent: ``("item", value)``,
``("tick",)``, ``("log", level, logger, text)``, then ``("done", value)`` or
``("error", exception)``. The child exits when its stdin closes, so it never outlives the
parent, and quietly when its stdout breaks (the parent is gone: nothing to report to). It
ignores Ctrl-C and SIGTERM, which the parent handles (it stops its children itself).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import DecodeError, SummarizeVideoError
from .wire import child_command, ignore_stop_signals, recv, send

log = logging.getLogger(__name__)

TIMEOUT_HINT = ("the file may be damaged; if it is only slow to read, raise --decode-timeout "
                "(config key decode_timeout; 0 waits forever)")
CRASH_HINT = "the file is probably damaged: try re-encoding it"
# A job: a generator function run in the child, given a Progress and its arguments.
Job = Callable[..., Iterator[Any]]
# Time a child has to start (Python, numpy, PyAV) before the watchdog counts.
STARTUP_S = 60.0
_EOF = object()
_LIVE: weakref.WeakSet[subprocess.Popen[bytes]] = weakref.WeakSet()


class Progress:
    """What the child's work has done so far; the ticker reports it when it changes."""

    def __init__(self) -> None:
        self.sources: list[Callable[[], int]] = []
        self.result: Any = None  # sent with "done"

    def watch(self, counter: Callable[[], int]) -> None:
        """Count ``counter()`` as progress (packets, frames: anything that grows)."""
        self.sources.append(counter)

    def value(self) -> int:
        return sum(f() for f in self.sources)


def run(job: str, args: tuple[Any, ...], *, path: str, stage: str,
        timeout: float | None) -> Iterator[Any]:
    """Yield the items of ``job`` (``"module:function"``) run in a child process.

    The generator's return value is the job's ``Progress.result``. Errors the job raises are
    raised here; a child that makes no progress for ``timeout`` seconds (None: no limit) or
    dies is killed and reported as a ``DecodeError`` for ``path`` at ``stage``.
    """
    try:
        proc = subprocess.Popen(child_command(__name__), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, start_new_session=os.name == "posix")
    except OSError as exc:
        raise DecodeError(f"cannot start a decoding process ({exc})", path=path, stage=stage,
                          hint="check free memory and process limits") from exc
    _LIVE.add(proc)
    stop = threading.Event()
    messages: queue.Queue[Any] = queue.Queue(maxsize=4)
    reader = threading.Thread(target=_read_all, args=(proc, messages, stop), daemon=True,
                              name="isolation-reader")
    try:
        assert proc.stdin is not None
        level = logging.getLogger("summarize_video").getEffectiveLevel()
        send(proc.stdin, (job, args, level, timeout))
        reader.start()
        wait = max(timeout, STARTUP_S) if timeout else None  # until the child is ready
        while True:
            try:
                message = messages.get(timeout=wait)
                wait = timeout
            except queue.Empty:
                _kill(proc)
                raise DecodeError(f"no progress for {timeout:g} s: decoding was stopped",
                                  path=path, stage=stage, hint=TIMEOUT_HINT) from None
            if message is _EOF:
                code = proc.wait()
                raise DecodeError(f"the decoding process died ({_describe(code)})", path=path,
                                  stage=stage, hint=CRASH_HINT)
            kind = message[0]
            if kind == "item":
                yield message[1]
            elif kind == "log":
                logging.getLogger(message[2]).log(message[1], "%s", message[3])
            elif kind == "done":
                return message[1]
            elif kind == "error":
                raise message[1]
    finally:
        stop.set()
        _kill(proc)
        with contextlib.suppress(queue.Empty):
            while True:
                messages.get_nowait()  # unblock the reader if it waits to put
        if reader.is_alive():
            reader.join(timeout=5)


def _read_all(proc: subprocess.Popen[bytes], messages: queue.Queue[Any],
              stop: threading.Event) -> None:
    """Reader thread: every message of the child into ``messages``, then ``_EOF``."""
    assert proc.stdout is not None
    while not stop.is_set():
        try:
            message = recv(proc.stdout)
        except (OSError, EOFError, pickle.UnpicklingError, ValueError):
            message = None
        item = _EOF if message is None else message
        while not stop.is_set():
            try:
                messages.put(item, timeout=0.1)
                break
            except queue.Full:
                continue
        if item is _EOF:
            return


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill the child and everything it started (its own process group), and reap it."""
    if proc.poll() is None:
        with contextlib.suppress(OSError):
            if os.name == "posix":
                os.killpg(proc.pid, signal.SIGKILL)
            else:  # pragma: no cover
                proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    _LIVE.discard(proc)


def kill_all() -> None:
    """Kill every child still running (at exit: none may outlive the parent)."""
    for proc in list(_LIVE):
        _kill(proc)


atexit.register(kill_all)


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit status {code}"


# --- the child ----------------------------------------------------------------------------


class _Sender:
    def __init__(self, out: Any) -> None:
        self.out = out
        self.lock = threading.Lock()

    def __call__(self, obj: Any) -> None:
        with self.lock:
            try:
                send(self.out, obj)
            except (OSError, ValueError):  # the parent is gone (or closed our pipe)
                os._exit(0)


class _Forward(logging.Handler):
    """Log records of the child, sent to the parent to be logged there."""

    def __init__(self, send: _Sender) -> None:
        super().__init__()
        self.send = send

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.send(("log", record.levelno, record.name, record.getMessage()))


def serve() -> None:
    """Child main: run one job, send its items, its result or its error; then exit."""
    ignore_stop_signals()
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything a library prints goes to stderr, not into the messages
    code = 0
    try:
        _serve_one(_Sender(out))  # a broken pipe to the parent ends the child in _Sender
    except BaseException:  # a bug outside the job (the job's own errors are sent)
        import traceback

        traceback.print_exc()
        code = 1
    with contextlib.suppress(Exception):
        out.flush()
    os._exit(code)  # no waiting for threads still blocked in FFmpeg


def _serve_one(send: _Sender) -> None:
    inp = sys.stdin.buffer
    request = recv(inp)
    if request is None:
        return
    job, args, level, timeout = request
    package = logging.getLogger("summarize_video")
    package.setLevel(level)
    package.addHandler(_Forward(send))
    package.propagate = False
    threading.Thread(target=_exit_with_parent, args=(inp,), daemon=True).start()
    progress = Progress()
    if timeout:
        threading.Thread(target=_tick, args=(progress, send, min(1.0, timeout / 4)),
                         daemon=True).start()
    try:
        module, name = job.split(":")
        function: Job = getattr(__import__(module, fromlist=[name]), name)
        send(("tick",))  # ready: from now on the watchdog counts
        for item in function(progress, *args):
            send(("item", item))
        send(("done", progress.result))
    except SummarizeVideoError as exc:
        send(("error", exc))
    except BaseException as exc:  # anything else is a bug: say what, for the report
        if os.environ.get("SUMMARIZE_VIDEO_DEBUG"):
            import traceback

            traceback.print_exc()
        send(("error", DecodeError(f"unexpected {type(exc).__name__}: {exc}",
                                   hint="set SUMMARIZE_VIDEO_DEBUG=1 for a traceback and "
                                   "report it")))


def _exit_with_parent(inp: Any) -> None:
    """The parent never writes after the job: EOF means it closed the pipe or died."""
    with contextlib.suppress(Exception):
        inp.read()
    os._exit(0)


def _tick(progress: Progress, send: _Sender, every: float) -> None:
    last = progress.value()
    while True:
        time.sleep(every)
        now = progress.value()
        if now != last:
            last = now
            send(("tick",))
