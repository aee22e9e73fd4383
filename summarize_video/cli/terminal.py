"""The terminal the CLI shares with the user: live progress bars on stderr, results on stdout,
log messages through the same console, no other library's progress bars.

On a terminal stdout and stderr are one screen. Rich redraws its live bars by moving the cursor
up over the lines it drew last, so anything written between two redraws by another route (a
summary on stdout, a log line, a library's own bar) is erased or left beside stale bar lines.
Here results are written while the bars are stopped (``Bars.paused``) and log records go
through the bars' console, which prints them above the bars.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from .batch_view import FILES, AmountColumn, EtaColumn, FilesBar

REFRESH_PER_SECOND = 10
# What each stage counts, shown after its numbers (see pipeline/stages.py, inputs/urls.py).
UNITS = {"caption": "s of video", "download": "MB", "probe": "", "transcribe": "s of audio",
         "reason": ""}
# The loggers of the HTTP stack: their INFO lines are per request, noise in a run.
NOISY_LOGGERS = ("httpx", "httpx2", "openai", "httpcore")


class Bars:
    """Rich progress bars, one per stage of the current file, and the overall bar across files
    (off when stderr is not a terminal, or with ``-q``)."""

    def __init__(self, err: Console, enabled: bool,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.err = err
        self.bar = Progress(TextColumn("{task.description:<11}"), BarColumn(), AmountColumn(),
                            TimeElapsedColumn(), EtaColumn(), console=err, transient=True,
                            disable=not enabled, refresh_per_second=REFRESH_PER_SECOND)
        self.tasks: dict[str, Any] = {}
        self.files = FilesBar(self.bar, clock)  # the overall bar, across files
        self.waiting: TaskID | None = None  # a status shown until the first progress

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        self.stop_waiting()
        if stage == FILES:
            self.files.update(done, total)
            return
        if stage not in self.tasks:
            self.tasks[stage] = self.bar.add_task(stage, total=total,
                                                  unit=UNITS.get(stage, ""))
        self.bar.update(self.tasks[stage], completed=done, total=total)

    def wait(self, status: str) -> None:
        """Show ``status`` (a bar without a total, which pulses) until progress comes: a
        screen is never blank while, say, Ray starts."""
        self.stop_waiting()
        self.waiting = self.bar.add_task(status, total=None, unit="")

    def stop_waiting(self) -> None:
        if self.waiting is not None:
            self.bar.remove_task(self.waiting)
            self.waiting = None

    def reset(self) -> None:
        for task in self.tasks.values():
            self.bar.remove_task(task)
        self.tasks.clear()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Stop the live bars (they are erased), let the caller write to stdout, then draw
        them again below what was written. Nothing written meanwhile is redrawn over."""
        live = self.bar.live
        if not live.is_started:
            yield
            return
        self.bar.stop()
        try:
            yield
        finally:
            sys.stdout.flush()
            # A fresh Live: a stopped one would move the cursor up by its last height when it
            # starts again, over the lines just written.
            self.bar.live = Live(console=self.err, auto_refresh=True, transient=True,
                                 refresh_per_second=REFRESH_PER_SECOND,
                                 get_renderable=self.bar.get_renderable)
            self.bar.start()


class ConsoleHandler(logging.Handler):
    """Log records as ``LEVEL name: message`` lines through a rich console, so that they are
    printed above live bars instead of between their redraws."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if _printed_by_its_library(record.name):
            return
        try:
            self.console.print(self.format(record), markup=False, highlight=False,
                               soft_wrap=True)
        except Exception:  # a broken stderr must not break the run
            self.handleError(record)


@contextmanager
def logging_to(err: Console, verbose: bool, quiet: bool) -> Iterator[None]:
    """While a command runs, one handler on the root logger, through ``err``: each record
    printed once, above the live bars. The root logger is as it was afterwards."""
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING
    root = logging.getLogger()
    handler = ConsoleHandler(err)
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    quiet_third_party(level)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def _printed_by_its_library(name: str) -> bool:
    """Whether a logger below the root has a handler of its own that already printed the
    record (huggingface_hub keeps one and still propagates: each warning came twice)."""
    logger: logging.Logger | None = logging.getLogger(name)
    while logger is not None and logger is not logging.root:
        if logger.handlers:
            return True
        if not logger.propagate:
            return False
        logger = logger.parent
    return False


def quiet_third_party(level: int) -> None:
    """No progress bars of the model libraries ("Loading weights", "Writing model shards",
    downloads), and with ``-q`` none of their warnings either. The variables are read when
    the libraries are first imported, which is later (lazily, in the backends); the calls
    cover libraries already imported."""
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    if level >= logging.ERROR:
        os.environ["HF_HUB_VERBOSITY"] = os.environ["TRANSFORMERS_VERBOSITY"] = "error"
    hub = sys.modules.get("huggingface_hub.utils")
    if hub is not None:
        hub.disable_progress_bars()
    tf_logging = sys.modules.get("transformers.utils.logging")
    if tf_logging is not None:
        tf_logging.disable_progress_bar()
