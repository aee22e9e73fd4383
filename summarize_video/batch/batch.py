"""Summarize many files with one set of loaded models; one file's failure never stops the rest.

Every finished file is recorded in the run ledger (``summarize_video.catalog.ledger``), so a rerun
skips the files already done with the same content and settings, and an interrupted batch
resumes where it stopped. An interrupt abandons the current file: its outputs are not written
(or are written whole), and nothing about it is recorded.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..catalog.ledger import DONE, FAILED, Ledger, default_ledger_path, settings_fingerprint
from ..errors import EXIT_USAGE, ConfigError, SummarizeVideoError
from ..inputs.discovery import Input, discover
from ..options import Options
from ..outputs.writers import check_output_dir, get_writer, output_stems, write_outputs
from ..pipeline.cache import hash_file
from ..pipeline.results import Result
from ..pipeline.summarizer import Summarizer

log = logging.getLogger(__name__)

# Where files are summarized: in this process, or on a Ray cluster (batch.ray_executor).
LOCAL = "local"
RAY = "ray"
EXECUTORS = (LOCAL, RAY)


@dataclass(frozen=True)
class Outcome:
    # The input file.
    path: Path
    # The result, or None when the file failed or was skipped.
    result: Result | None = None
    # Why the file failed; None on success.
    error: SummarizeVideoError | None = None
    # Files written for this input (for a skipped file: those written when it was done).
    outputs: tuple[Path, ...] = field(default=())
    seconds: float = 0.0
    # Done before with the same content and settings (see the ledger), so not redone.
    skipped: bool = False
    # The http(s) URL of a URL input (downloaded, processed, then removed); None for files.
    url: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def status(self) -> str:
        """``"done"``, ``"skipped"`` or ``"failed"``."""
        return FAILED if self.error is not None else "skipped" if self.skipped else DONE


def summarize_many(
    paths: Iterable[str | Path],
    *,
    recursive: bool = False,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    write: bool = True,
    resume: bool = True,
    force: bool = False,
    ledger: Ledger | Path | str | None = None,
    summarizer: Summarizer | None = None,
    options: Options | None = None,
    executor: str = LOCAL,
    ray_address: str | None = None,
    ray_workers: int | None = None,
    llm_concurrency: int | None = None,
    **option_values: Any,
) -> Iterator[Outcome]:
    """Yield one ``Outcome`` per input file, in a deterministic order.

    ``include``/``exclude`` are glob patterns on the path relative to a folder given (see
    ``summarize_video.inputs.discovery``). With ``resume`` (the default) every finished file is
    recorded in the ledger (``ledger``: a path or an open ``Ledger``; by default
    ``ledger.sqlite3`` beside the cache), and a file already done with the same content and
    settings, whose output files are still there, is skipped (``Outcome.skipped``, no
    ``result``) unless ``force``. ``resume=False`` neither reads nor writes the ledger. A dry
    run never does. The summarizer's progress callback also hears ``("files", done, total)``.

    ``executor="ray"`` runs the files on a Ray cluster (``ray_address``; default
    ``$RAY_ADDRESS``, else a Ray instance on this machine) in ``ray_workers`` long-lived workers
    (default: one per GPU, else one per CPU), with at most ``llm_concurrency`` reasoning calls
    at a time across the cluster (default 4). Outcomes, outputs and the ledger are the same as
    with the local executor (see ``summarize_video.batch.ray_executor``).

    Errors that concern one file (missing, undecodable, an LLM failure) become that file's
    outcome. Configuration errors (a model that cannot load, a rejected API key) would fail
    every file the same way, so they are raised.
    """
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}", stage="options",
                          hint=f"use one of {', '.join(EXECUTORS)}")
    ray_settings = {"ray_address": ray_address, "ray_workers": ray_workers,
                    "llm_concurrency": llm_concurrency}
    if executor == RAY:
        from .ray_executor import require_ray

        require_ray()  # before any model loads or file is read
    elif any(v is not None for v in ray_settings.values()):
        given = ", ".join(k for k, v in ray_settings.items() if v is not None)
        raise ConfigError(f"{given} only apply to the ray executor", stage="options",
                          hint="pass executor='ray' (--executor ray)")
    if summarizer is None:
        summarizer = Summarizer(Options.from_kwargs(options, **option_values))
    opts = summarizer.options
    if write:
        check_output_dir(opts.output_dir)
    inputs = list(discover(paths, recursive=recursive, include=include, exclude=exclude))
    book: Ledger | None = None
    if resume and not opts.dry_run:
        book = ledger if isinstance(ledger, Ledger) else Ledger(
            ledger if ledger is not None else default_ledger_path(opts.cache_dir))
    # With the backends the summarizer resolved: "auto" is a local model or a server.
    fingerprint = settings_fingerprint(opts, summarizer._settings()) if book is not None else ""
    batch = Batch(summarizer, book, fingerprint, write, force,
                  output_stems([i.path for i in inputs if i.error is None]))
    try:
        if executor == RAY:
            from .ray_executor import run_on_ray

            yield from run_on_ray(batch, inputs, address=ray_address, workers=ray_workers,
                                  llm_concurrency=llm_concurrency)
        else:
            yield from _run_locally(batch, inputs)
    finally:
        if book is not None and book is not ledger:
            book.close()


def _run_locally(batch: Batch, inputs: Sequence[Input]) -> Iterator[Outcome]:
    summarizer = batch.summarizer
    for index, item in enumerate(inputs):
        summarizer.progress("files", index, len(inputs))
        if item.error is not None:
            yield Outcome(item.path, error=item.error, url=item.url)
            continue
        content_hash = batch.content_hash(item)
        skipped = batch.done_before(item, content_hash)
        if skipped is not None:
            yield skipped
            continue
        run = functools.partial(summarizer.summarize, item.url or item.path)
        yield batch.finish(item, content_hash, run, time.perf_counter())
    summarizer.progress("files", len(inputs), len(inputs))


@dataclass(frozen=True)
class Batch:
    """What every file of a batch shares, whichever executor summarizes it: the summarizer
    (its options and cache), the ledger and settings fingerprint, and the output names."""

    summarizer: Summarizer
    # None: resume is off (or a dry run): the ledger is neither read nor written.
    book: Ledger | None
    fingerprint: str
    write: bool
    force: bool
    # Output file name stem per input path.
    stems: dict[Path, str]

    @property
    def options(self) -> Options:
        return self.summarizer.options

    @property
    def resumable(self) -> bool:
        """Whether files are looked up in the ledger (their content hash is needed)."""
        return self.book is not None

    def content_hash(self, item: Input) -> str | None:
        """The SHA-256 the ledger keys a file on; None without a ledger and for URLs (whose
        content is only known once downloaded: URL inputs are not resumed)."""
        if self.book is None or item.url is not None:
            return None
        return _content_hash(self.summarizer, item.path)

    def done_before(self, item: Input, content_hash: str | None) -> Outcome | None:
        """The skipped outcome of a file done before with this content and these settings."""
        if self.book is None or not content_hash or self.force:
            return None
        done = _done_outputs(self.book, content_hash, self.fingerprint, self.stems[item.path],
                             self.options, self.write)
        return None if done is None else Outcome(item.path, outputs=done, skipped=True)

    def finish(self, item: Input, content_hash: str | None, run: Callable[[], Result],
               started: float) -> Outcome:
        """Get the file's result from ``run``, then write and record it; an interrupt before
        the writing abandons it. ``started``: when the work on the file began."""
        opts, book, path, url = self.options, self.book, item.path, item.url
        stem, write = self.stems[path], self.write

        def record(status: str, outputs: Sequence[Path], result: Result | None,
                   error: str | None = None) -> None:
            if book is not None and content_hash:
                book.record(path, content_hash=content_hash, settings_fp=self.fingerprint,
                            status=status, outputs=outputs, result=result, error=error,
                            seconds=time.perf_counter() - started,
                            settings=None if result is not None else opts.settings())

        try:
            result = run()
            with interrupts_deferred():
                outputs = write_outputs(result, opts.output_dir, opts.formats,
                                        stem=stem) if write else []
                record(DONE, outputs, result)
        except SummarizeVideoError as exc:
            partial = getattr(exc, "partial", None)
            partial = partial if isinstance(partial, Result) else None
            with interrupts_deferred():
                outputs = []
                if write and partial is not None:  # captions and transcript: the LLM failed
                    try:
                        outputs = write_outputs(partial, opts.output_dir, opts.formats,
                                                stem=stem)
                    except SummarizeVideoError as write_error:
                        log.warning("%s", write_error.one_line())
                if exc.exit_code == EXIT_USAGE:  # the configuration's fault, not the file's
                    raise
                if exc.path is None:
                    exc.path = str(path)
                record(FAILED, outputs, partial, exc.one_line())
            log.debug("%s failed", path, exc_info=True)
            return Outcome(path, result=partial, error=exc, outputs=tuple(outputs),
                           seconds=time.perf_counter() - started, url=url)
        except Exception as exc:
            if os.environ.get("SUMMARIZE_VIDEO_DEBUG"):
                raise
            log.debug("%s failed", path, exc_info=True)
            # An error from a Ray worker comes back carrying its original class name.
            kind = getattr(exc, "original_type", type(exc).__name__)
            error = SummarizeVideoError(
                f"unexpected {kind}: {exc}", path=str(path),
                hint="set SUMMARIZE_VIDEO_DEBUG=1 for a traceback and report it",
            )
            with interrupts_deferred():
                record(FAILED, [], None, error.one_line())
            return Outcome(path, error=error, seconds=time.perf_counter() - started, url=url)
        return Outcome(path, result=result, outputs=tuple(outputs),
                       seconds=time.perf_counter() - started, url=url)


def _content_hash(summarizer: Summarizer, path: Path) -> str | None:
    """SHA-256 of the file (remembered by the cache); None when it cannot be read."""
    try:
        if summarizer.cache is not None:
            return summarizer.cache.file_hash(path)
        return hash_file(path)
    except OSError:
        return None  # the pipeline reports why, as this file's failure


def _done_outputs(book: Ledger, content_hash: str, fingerprint: str, stem: str,
                  opts: Options, write: bool) -> tuple[Path, ...] | None:
    """The outputs of this file done before with these settings, or None to (re)do it.

    When writing, the files this run would write must all be there: deleting an output, or
    choosing another output folder or format, redoes the file.
    """
    entries = book.find_done(content_hash, fingerprint)
    if not entries:
        return None
    if not write:
        return tuple(Path(p) for p in entries[0].outputs)
    expected = tuple(Path(opts.output_dir) / f"{stem}.{get_writer(fmt).extension}"
                     for fmt in opts.formats)
    return expected if all(p.is_file() for p in expected) else None


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C until the block ends, so a file's outputs and its ledger row are written
    together or not at all. Only in the main thread with Python's default SIGINT handler."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt
