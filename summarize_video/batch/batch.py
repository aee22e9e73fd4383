"""What every file of a batch shares, whichever executor runs it, and what each file comes to.

``Batch.finish`` writes a file's outputs and records it in the ledger together (an interrupt
in between abandons it); one file's failure becomes its ``Outcome`` and never stops the rest.

The ledger also records which input owns each output file (path and SHA-256, see
``catalog.owners``): a file is done before only while its outputs are still the ones it wrote,
an existing file this tool did not write is never replaced without ``overwrite``, and a run
claims each file while it summarizes it, so a second run over the same files leaves it alone.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..catalog import owners
from ..catalog.ledger import DONE, FAILED, Ledger, catalog_path
from ..errors import EXIT_USAGE, OutputError, StorageError, SummarizeVideoError
from ..inputs.discovery import Input
from ..limits import Limits
from ..media.jobs import probe_file
from ..options import Options
from ..outputs.marks import carries_mark
from ..outputs.naming import settle_stems
from ..outputs.writers import get_writer, write_outputs
from ..pipeline.cache import hash_file
from ..pipeline.fingerprint import result_settings
from ..pipeline.results import Result
from ..pipeline.summarizer import Summarizer

log = logging.getLogger(__name__)

# The content hash the ledger records for a file refused before its bytes were read.
NOT_HASHED = ""

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
    # Done and written, but the ledger could not record it (a full disk): the next run does
    # it again. The CLI warns and exits 1.
    unrecorded: StorageError | None = None
    # Why a skipped file was left alone when it was not done before (another run has it).
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def status(self) -> str:
        """``"done"``, ``"skipped"`` or ``"failed"``."""
        return FAILED if self.error is not None else "skipped" if self.skipped else DONE


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
    # Replace existing output files this tool did not write.
    overwrite: bool = False
    # Where output ownership and claims are kept: the ledger, also with resume off when
    # writing; None for a dry run.
    owners: Ledger | None = None

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

    def refused(self, item: Input) -> Outcome | None:
        """The failed outcome of a file the probe refuses, before its bytes are hashed for the
        ledger (junk is refused in a moment, not after reading gigabytes); None to go on. A
        file whose hash is remembered, or that is not hashed here, is not probed here."""
        if self.content_hash_known(item):
            return None
        started = time.perf_counter()
        try:
            probe_file(item.path, Limits.from_options(self.options),
                       self.options.decode_timeout or None)
        except SummarizeVideoError as exc:
            if exc.exit_code == EXIT_USAGE:
                raise
            exc.path = exc.path or str(item.path)
            seconds = time.perf_counter() - started
            self._record_refused(item, exc, seconds)
            return Outcome(item.path, error=exc, seconds=seconds)
        return None

    def _record_refused(self, item: Input, exc: SummarizeVideoError, seconds: float) -> None:
        """A refused file is recorded failed with no content hash (its bytes were not read)."""
        if self.book is None:
            return
        try:
            self.book.record(item.path, content_hash=NOT_HASHED, settings_fp=self.fingerprint,
                             status=FAILED, error=exc.one_line(), seconds=seconds,
                             settings=result_settings(self.options))
        except StorageError as failure:
            log.warning("%s: its failure is not recorded: %s", item.path, failure.one_line())

    def content_hash_known(self, item: Input) -> bool:
        """Whether ``content_hash`` costs no reading: no ledger, a URL, or a hash the cache
        remembers for the file's present size and time."""
        cache = self.summarizer.cache
        if self.book is None or item.url is not None:
            return True
        try:
            return cache is not None and cache.known_hash(item.path) is not None
        except (OSError, StorageError):
            return False

    def done_before(self, item: Input, content_hash: str | None) -> Outcome | None:
        """The skipped outcome of a file done before with this content and these settings."""
        if self.book is None or not content_hash or self.force:
            return None
        key = owner_key(item)
        done = _done_outputs(self.book, content_hash, self.fingerprint,
                             self.targets(item) if self.write else None,
                             lambda p: self.owners is not None
                             and owners.recorded_owner(self.owners.db, p) == key)
        return None if done is None else Outcome(item.path, outputs=done, skipped=True)

    def targets(self, item: Input) -> tuple[Path, ...]:
        """The files this run writes for ``item``."""
        return tuple(Path(self.options.output_dir)
                     / f"{self.stems[item.path]}.{get_writer(fmt).extension}"
                     for fmt in self.options.formats)

    def check_targets(self, item: Input) -> None:
        """Refuse (``OutputError``) when a file this run would write for ``item`` exists and
        this tool did not write it (neither the ledger's record nor its mark vouches for it),
        unless ``overwrite``; nothing is written then."""
        if not self.write or self.overwrite:
            return
        for target in self.targets(item):
            if os.path.lexists(target) and not self._ours(target):
                raise OutputError(f"{target} exists and was not written by summarize-video; "
                                  "nothing was written for this file", path=str(item.path),
                                  hint="pass --overwrite to replace it, or choose another "
                                  "--output-dir")

    def _ours(self, target: Path) -> bool:
        if target.is_symlink() or not target.is_file():
            return False
        if self.owners is not None and owners.recorded_owner(self.owners.db, target):
            return True
        return carries_mark(target)

    def claim(self, item: Input) -> Outcome | None:
        """Claim ``item`` for this run; the skipped outcome when another live run has it."""
        if self.owners is None:
            return None
        holder = owners.claim(self.owners.db, owner_key(item))
        if holder is None:
            return None
        return Outcome(item.path, skipped=True, url=item.url,
                       note=f"being summarized by another run ({holder.describe()})")

    def release(self, item: Input) -> None:
        if self.owners is not None:
            owners.release(self.owners.db, owner_key(item))

    def _write(self, item: Input, result: Result) -> list[Path]:
        """Write the outputs of ``item`` (refusing files this tool did not write) and record
        them as its own."""
        self.check_targets(item)
        stem = self.stems[item.path]
        outputs = write_outputs(result, self.options.output_dir, self.options.formats,
                                stem=stem)
        if self.owners is not None:
            owners.own(self.owners.db, owner_key(item), stem, outputs)
        return outputs

    def finish(self, item: Input, content_hash: str | None, run: Callable[[], Result],
               started: float) -> Outcome:
        """Get the file's result from ``run``, then write and record it; an interrupt before
        the writing abandons it. ``started``: when the work on the file began."""
        opts, book, path, url = self.options, self.book, item.path, item.url
        write = self.write

        def record(status: str, outputs: Sequence[Path], result: Result | None,
                   error: str | None = None) -> None:
            if book is None or content_hash is None:  # NOT_HASHED: refused, still recorded
                return
            try:
                book.record(path, content_hash=content_hash, settings_fp=self.fingerprint,
                            status=status, outputs=outputs, result=result, error=error,
                            seconds=time.perf_counter() - started,
                            settings=None if result is not None else result_settings(opts))
            except StorageError as exc:
                if status == DONE:
                    raise
                log.warning("%s: its failure is not recorded: %s", path, exc.one_line())

        unrecorded = None
        try:
            self.check_targets(item)  # before the work: no paid call for outputs refused
            result = run()
            if result.failure is None:
                with interrupts_deferred():
                    outputs = self._write(item, result) if write else []
                    unrecorded = _recorded(record, outputs, result, path)
        except SummarizeVideoError as exc:
            return self._failed(item, exc, None, record, started)
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
        if result.failure is not None:  # captions and transcript, but the LLM failed
            return self._failed(item, result.failure, result, record, started)
        return Outcome(path, result=result, outputs=tuple(outputs),
                       seconds=time.perf_counter() - started, url=url, unrecorded=unrecorded)

    def _failed(self, item: Input, exc: SummarizeVideoError, partial: Result | None,
                record: Callable[..., None], started: float) -> Outcome:
        """A file that failed: what it made is written (a result without a summary), the
        failure recorded; a configuration error is raised once that is done."""
        path = item.path
        with interrupts_deferred():
            outputs: list[Path] = []
            if self.write and partial is not None:
                try:
                    outputs = self._write(item, partial)
                except SummarizeVideoError as write_error:
                    log.warning("%s", write_error.one_line())
            if exc.exit_code == EXIT_USAGE:  # the configuration's fault, not the file's
                raise exc
            if exc.path is None:
                exc.path = str(path)
            record(FAILED, outputs, partial, exc.one_line())
        log.debug("%s failed", path, exc_info=exc)
        return Outcome(path, result=partial, error=exc, outputs=tuple(outputs),
                       seconds=time.perf_counter() - started, url=item.url)


def _content_hash(summarizer: Summarizer, path: Path) -> str | None:
    """SHA-256 of the file (remembered by the cache); None when it cannot be read, or the
    cache cannot be used."""
    try:
        if summarizer.cache is not None:
            return summarizer.cache.file_hash(path)
        return hash_file(path)
    except (OSError, StorageError):
        return None  # the pipeline reports why, as this file's failure


def _recorded(record: Callable[..., None], outputs: Sequence[Path], result: Result,
              path: Path) -> StorageError | None:
    """Record a file done; None, or what the ledger could not do once its outputs were
    written (they stay: the next run does the file again)."""
    try:
        record(DONE, outputs, result)
    except StorageError as exc:
        written = ", ".join(str(p) for p in outputs) or "nothing to write"
        return StorageError(f"done and written ({written}), but not recorded in the ledger: "
                            f"{exc.message}", path=str(path), stage="ledger",
                            hint=f"{exc.hint}; the next run does this file again"
                            if exc.hint else "the next run does this file again")
    return None


def _done_outputs(book: Ledger, content_hash: str, fingerprint: str,
                  expected: tuple[Path, ...] | None,
                  owned: Callable[[Path], bool]) -> tuple[Path, ...] | None:
    """The outputs of this file done before with these settings, or None to (re)do it.

    When writing (``expected``: the files this run would write), each must still be the one
    this input wrote (``owned``: the ledger's record, path and hash): deleting or changing an
    output, another input writing over it, or another output folder or format, redoes it.
    """
    entries = book.find_done(content_hash, fingerprint)
    if not entries:
        return None
    if expected is None:
        return tuple(Path(p) for p in entries[0].outputs)
    return expected if all(owned(p) for p in expected) else None


def owner_key(item: Input) -> str:
    """What the ledger records as the owner of an input's outputs: its catalog path; for a
    URL a hash of it (a URL may carry a token)."""
    if item.url is not None:
        return "url:" + hashlib.sha256(item.url.encode("utf-8", "surrogateescape")).hexdigest()
    return catalog_path(item.path)


def settled_stems(book: Ledger, inputs: Sequence[Input], stems: dict[Path, str],
                  folder: Path) -> dict[Path, str]:
    """``stems`` made distinct from the outputs of other inputs recorded in ``folder``: each
    input keeps the name its outputs have; one whose name another input's outputs have gets
    a distinct one, with a warning naming both."""
    keys = {i.path: owner_key(i) for i in inputs if i.path in stems}
    kept = {p: stem for p, k in keys.items()
            if (stem := owners.kept_stem(book.db, k, folder)) is not None}
    others: dict[tuple[Path, str], str] = {}

    def taken(path: Path, stem: str) -> bool:
        other = owners.taken_by(book.db, keys[path], folder, stem)
        if other is not None and stem == stems[path]:
            others[(path, stem)] = other
        return other is not None

    settled = settle_stems(stems, kept, taken)
    for (path, first), other in others.items():
        if settled[path] != first and kept.get(path) is None:
            log.warning("%s: %s.* in %s belong to %s; writing %s.* instead", path, first,
                        folder, other, settled[path])
    return settled


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C (and SIGTERM, when the CLI turned it into an interrupt) until the block
    ends, so a file's outputs and its ledger row are written together or not at all. Only in
    the main thread with Python's default SIGINT handler."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    caught: list[int] = []
    held = {signal.SIGINT: signal.default_int_handler}
    term = signal.getsignal(signal.SIGTERM)
    if callable(term):
        held[signal.SIGTERM] = term
    for signum in held:
        signal.signal(signum, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        for signum, previous in held.items():
            signal.signal(signum, previous)
    if caught:
        held[signal.Signals(caught[0])](caught[0], None)
        raise KeyboardInterrupt
