"""What the CLI shows of a batch and of a search: the overall bar, the final table, the hits.

Rich tables on a terminal; plain lines otherwise (pipes, logs, tests).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click
from rich import box
from rich.console import Console
from rich.progress import Progress, ProgressColumn, Task, TaskID
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from ..batch.batch import Outcome
    from ..catalog.search import Hit

# The progress stage summarize_many reports files under: progress("files", done, total).
FILES = "files"
_STATUS_STYLE = {"done": "green", "skipped": "cyan", "failed": "red"}


def _duration(seconds: float) -> str:
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def _stamp(t: float | None) -> str:
    if t is None:
        return "--:--"
    from ..timeline import format_timestamp

    return format_timestamp(t)


class EtaColumn(ProgressColumn):
    """The ``eta`` field of a task (only the overall bar has one)."""

    def render(self, task: Task) -> Text:
        return Text(str(task.fields.get("eta", "")), style="progress.remaining")


class AmountColumn(ProgressColumn):
    """``done/total unit`` of a task: seconds of video captioned, MB downloaded, files; a
    download's KiB are shown in MB."""

    def render(self, task: Task) -> Text:
        unit = str(task.fields.get("unit", ""))
        done, total = task.completed, task.total
        if unit == "MB":  # the download stage counts KiB
            shown = f"{done / 1024:.1f}/{total / 1024:.1f}" if total else f"{done / 1024:.1f}"
        else:
            shown = f"{done:.0f}/{total:.0f}" if total is not None else f"{done:.0f}"
        return Text(f"{shown} {unit}".rstrip(), style="progress.download")


class FilesBar:
    """The overall bar across files, with an ETA from the batch's throughput so far: the wall
    time since the first file started over the files processed (skipped ones do not count),
    times the files left. Files that run side by side (Ray workers) finish that much faster,
    and the ETA knows it. Shown for two files or more."""

    def __init__(self, bar: Progress, clock: Callable[[], float] = time.monotonic) -> None:
        self.bar = bar
        self.clock = clock
        self.task: TaskID | None = None
        self.started: float | None = None
        self.processed = 0

    def update(self, done: int, total: int | None) -> None:
        if total is None or total < 2:
            return
        if self.task is None:
            self.task = self.bar.add_task(FILES, total=total, eta="", unit="files")
            self.started = self.clock()
        left = total - done
        eta = ""
        if self.processed and left > 0 and self.started is not None:
            rate = (self.clock() - self.started) / self.processed
            eta = f"ETA {_duration(rate * left)}"
        self.bar.update(self.task, completed=done, total=total, eta=eta)

    def finished(self, outcome: Outcome) -> None:
        if not outcome.skipped and outcome.seconds > 0:
            self.processed += 1


class BatchReport:
    """Every outcome of a run, for the table at its end (nothing with ``quiet``)."""

    def __init__(self, err: Console, quiet: bool = False) -> None:
        self.err = err
        self.quiet = quiet
        self.outcomes: list[Outcome] = []
        self.started = time.perf_counter()

    def add(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)

    def skipped_line(self, outcome: Outcome) -> None:
        if self.quiet:
            return
        if outcome.note:
            self.err.print(f"[cyan]skipped:[/] {outcome.path} ({outcome.note})",
                           highlight=False)
        else:
            self.err.print(f"[cyan]skipped:[/] {outcome.path} (done before with the same "
                           "content and settings; --force redoes it)", highlight=False)

    @contextmanager
    def on_interrupt(self) -> Iterator[None]:
        """On Ctrl-C, show what was finished before the interrupt goes on."""
        try:
            yield
        except KeyboardInterrupt:
            self.print(interrupted=True)
            raise

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(_STATUS_STYLE, 0)
        for o in self.outcomes:
            counts[o.status] += 1
        return counts

    def print(self, *, interrupted: bool = False) -> None:
        """The final table, for a multi-file or an interrupted run."""
        err = self.err
        if self.quiet or (len(self.outcomes) < 2 and not interrupted):
            return
        counts = self.counts()
        elapsed = time.perf_counter() - self.started
        head = ", ".join(f"{n} {status}" for status, n in counts.items())
        head = f"{head} in {elapsed:.1f} s"
        if interrupted:
            head += "; stopped before the end: rerun the same command to resume"
        if not err.is_terminal:
            err.print(f"batch: {head}", highlight=False, markup=False)
            for o in self.outcomes:
                seconds = "-" if o.skipped else f"{o.seconds:.1f} s"
                err.print(f"  {o.status:<8} {seconds:>8}  {o.path}", highlight=False,
                          markup=False, soft_wrap=True)
            return
        table = Table(title=f"batch: {head}", title_justify="left")
        table.add_column("file", overflow="fold")
        table.add_column("status")
        table.add_column("time", justify="right")
        table.add_column("detail", overflow="fold")
        for o in self.outcomes:
            detail = ""
            if o.error is not None:
                detail = f"{o.error.stage}: {o.error.message}"
            elif o.skipped:
                detail = "done before"
            table.add_row(str(o.path), Text(o.status, style=_STATUS_STYLE[o.status]),
                          "-" if o.skipped else f"{o.seconds:.1f} s", detail)
        err.print(table)


def print_hits(hits: Sequence[Hit], out: Console) -> None:
    """``file  mm:ss  kind  snippet`` per hit; a table with the matches in bold on a terminal."""
    if not out.is_terminal:
        for h in hits:
            click.echo(f"{h.path}  {_stamp(h.t)}  {h.kind}  {h.snippet}")
        return
    # Fits the terminal (80 columns too): light rules, the stamp and kind never broken, the
    # snippet given more room than the path, both folded onto more lines when long.
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=True)
    table.add_column("file", overflow="fold", ratio=2)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("snippet", overflow="fold", ratio=3)
    for h in hits:
        snippet = Text(h.snippet)
        for start, end in h.marks:
            snippet.stylize("bold yellow", start, end)
        table.add_row(h.path, _stamp(h.t), h.kind, snippet)
    out.print(table)
