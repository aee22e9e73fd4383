"""Summarize many files with one set of loaded models; one file's failure never stops the rest.

Every finished file is recorded in the run ledger (``summarize_video.ledger``), so a rerun
skips the files already done with the same content and settings, and an interrupted batch
resumes where it stopped. An interrupt abandons the current file: its outputs are not written
(or are written whole), and nothing about it is recorded.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cache import hash_file
from .discovery import discover
from .errors import EXIT_USAGE, SummarizeVideoError
from .ledger import DONE, FAILED, Ledger, default_ledger_path, settings_fingerprint
from .options import Options
from .pipeline import Summarizer
from .results import Result
from .writers import check_output_dir, get_writer, output_stems, write_outputs

log = logging.getLogger(__name__)


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
    **option_values: Any,
) -> Iterator[Outcome]:
    """Yield one ``Outcome`` per input file, in a deterministic order.

    ``include``/``exclude`` are glob patterns on the path relative to a folder given (see
    ``summarize_video.discovery``). With ``resume`` (the default) every finished file is
    recorded in the ledger (``ledger``: a path or an open ``Ledger``; by default
    ``ledger.sqlite3`` beside the cache), and a file already done with the same content and
    settings, whose output files are still there, is skipped (``Outcome.skipped``, no
    ``result``) unless ``force``. ``resume=False`` neither reads nor writes the ledger. A dry
    run never does. The summarizer's progress callback also hears ``("files", done, total)``.

    Errors that concern one file (missing, undecodable, an LLM failure) become that file's
    outcome. Configuration errors (a model that cannot load, a rejected API key) would fail
    every file the same way, so they are raised.
    """
    if summarizer is None:
        summarizer = Summarizer(Options.from_kwargs(options, **option_values))
    opts = summarizer.options
    if write:
        check_output_dir(opts.output_dir)
    inputs = list(discover(paths, recursive=recursive, include=include, exclude=exclude))
    stems = output_stems([i.path for i in inputs if i.error is None])
    book: Ledger | None = None
    if resume and not opts.dry_run:
        book = ledger if isinstance(ledger, Ledger) else Ledger(
            ledger if ledger is not None else default_ledger_path(opts.cache_dir))
    # With the backends the summarizer resolved: "auto" is a local model or a server.
    fingerprint = settings_fingerprint(opts, summarizer._settings()) if book is not None else ""
    try:
        for index, item in enumerate(inputs):
            summarizer.progress("files", index, len(inputs))
            if item.error is not None:
                yield Outcome(item.path, error=item.error, url=item.url)
                continue
            stem = stems[item.path]
            # A URL's content is only known once downloaded: URL inputs are not resumed.
            content_hash = (_content_hash(summarizer, item.path)
                            if book is not None and item.url is None else None)
            if book is not None and content_hash and not force:
                done_before = _done_outputs(book, content_hash, fingerprint, stem, opts, write)
                if done_before is not None:
                    yield Outcome(item.path, outputs=done_before, skipped=True)
                    continue
            yield _one(summarizer, item.path, item.url, stem, write, book, content_hash,
                       fingerprint)
        summarizer.progress("files", len(inputs), len(inputs))
    finally:
        if book is not None and book is not ledger:
            book.close()


def _one(summarizer: Summarizer, path: Path, url: str | None, stem: str, write: bool,
         book: Ledger | None, content_hash: str | None, fingerprint: str) -> Outcome:
    """Summarize, write and record one file; an interrupt before the writing abandons it."""
    opts = summarizer.options
    started = time.perf_counter()

    def record(status: str, outputs: Sequence[Path], result: Result | None,
               error: str | None = None) -> None:
        if book is not None and content_hash:
            book.record(path, content_hash=content_hash, settings_fp=fingerprint,
                        status=status, outputs=outputs, result=result, error=error,
                        seconds=time.perf_counter() - started,
                        settings=None if result is not None else opts.settings())

    try:
        result = summarizer.summarize(url or path)
        with interrupts_deferred():
            outputs = write_outputs(result, opts.output_dir, opts.formats,
                                    stem=stem) if write else []
            record(DONE, outputs, result)
    except SummarizeVideoError as exc:
        partial = getattr(exc, "partial", None)
        partial = partial if isinstance(partial, Result) else None
        with interrupts_deferred():
            outputs = []
            if write and partial is not None:  # captions and transcript, when the LLM failed
                try:
                    outputs = write_outputs(partial, opts.output_dir, opts.formats, stem=stem)
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
        error = SummarizeVideoError(
            f"unexpected {type(exc).__name__}: {exc}", path=str(path),
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
