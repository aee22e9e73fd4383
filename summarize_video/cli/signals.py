"""The CLI's SIGTERM handler: a run ends through the cleanup of Ctrl-C, and never while the
interpreter's import lock is held."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import Any

from ..errors import Terminated


def terminate_like_ctrl_c() -> None:
    """SIGTERM raises ``Terminated`` (a ``KeyboardInterrupt``) in the main thread, so a
    terminated run cleans up as an interrupted one does: children stopped, temporary folders
    removed, no half-written outputs. Later SIGTERMs are ignored while that cleanup runs.
    It does not raise while the interpreter's import lock is held (see ``_import_safe``). Ctrl-C
    keeps Python's own handler, which ``batch.interrupts_deferred`` recognises and holds."""
    if threading.current_thread() is not threading.main_thread():
        return

    def terminated(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated

    signal.signal(signal.SIGTERM, _import_safe(terminated))


def _import_safe(handler: Callable[[int, Any], None]) -> Callable[[int, Any], None]:
    """``handler``, put off by 50 ms while the import lock is held. An exception raised there
    (between the lock's acquire and its ``try``, or in a weak-reference callback of the import
    system, where it is only printed) leaves the lock held by the main thread for ever: every
    other thread's next import then waits for ever, and so does the run."""
    import _imp

    def safe(signum: int, frame: Any) -> None:
        if _imp.lock_held():
            timer = threading.Timer(0.05, os.kill, (os.getpid(), signum))
            timer.daemon = True
            timer.start()
            return
        handler(signum, frame)

    return safe
