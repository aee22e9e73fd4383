"""``summarize_many``: a batch of files, summarized here or on a Ray cluster.

Every finished file is recorded in the run ledger (``summarize_video.catalog.ledger``), so a
rerun skips the files already done with the same content and settings, and an interrupted
batch resumes where it stopped. An interrupt abandons the current file: its outputs are not
written (or are written whole), and nothing about it is recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..catalog.ledger import Ledger, default_ledger_path, settings_fingerprint
from ..errors import ConfigError, LedgerError
from ..inputs.discovery import discover
from ..options import Options, check_choice
from ..outputs.writers import check_output_dir, output_stems
from ..pipeline.summarizer import Summarizer
from .batch import Batch, Outcome, settled_stems
from .local import run_locally

# Where files are summarized: in this process, or on a Ray cluster (batch.ray_executor).
LOCAL = "local"
RAY = "ray"
EXECUTORS = (LOCAL, RAY)


def summarize_many(
    paths: Iterable[str | Path],
    *,
    recursive: bool = False,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    write: bool = True,
    resume: bool = True,
    force: bool = False,
    overwrite: bool = False,
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
    settings, whose output files are still the ones it wrote, is skipped (``Outcome.skipped``,
    no ``result``) unless ``force``. ``resume=False`` neither skips nor records files; output
    ownership and claims are kept in the ledger still (see ``batch``): an existing file this
    tool did not write fails its input unless ``overwrite``. A dry run never opens the ledger.
    The summarizer's progress callback also hears ``("files", done, total)``.

    ``executor="ray"`` runs the files on a Ray cluster (``ray_address``; default
    ``$RAY_ADDRESS``, else a Ray instance on this machine) in ``ray_workers`` long-lived workers
    (default: one per GPU, else one per CPU), with at most ``llm_concurrency`` reasoning calls
    at a time across the cluster (default 4). Outcomes, outputs and the ledger are the same as
    with the local executor (see ``summarize_video.batch.ray_executor``).

    Errors that concern one file (missing, undecodable, an LLM failure) become that file's
    outcome. Configuration errors (a model that cannot load, a rejected API key) would fail
    every file the same way, so they are raised.
    """
    check_choice(executor, EXECUTORS, "executor")
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
    opened = _open_ledger(ledger, opts, resume or write)  # output ownership is kept there too
    book = opened if resume else None
    # With the backends the summarizer resolved: "auto" is a local model or a server.
    fingerprint = settings_fingerprint(opts, summarizer.backends()) if book is not None else ""
    try:
        stems = output_stems([i.path for i in inputs if i.error is None])
        stems = settled_stems(opened, inputs, stems, opts.output_dir) if opened and write else stems
        batch = Batch(summarizer, book, fingerprint, write, force, stems,
                      overwrite=overwrite, owners=opened)
        if executor == RAY:
            from .ray_executor import run_on_ray

            yield from run_on_ray(batch, inputs, address=ray_address, workers=ray_workers,
                                  llm_concurrency=llm_concurrency)
        else:
            yield from run_locally(batch, inputs)
    finally:
        if opened is not None and opened is not ledger:
            opened.close()


def _open_ledger(ledger: Ledger | Path | str | None, opts: Options, wanted: bool
                 ) -> Ledger | None:
    """The ledger a batch uses (``ledger``: an open one, a path, or None for the default),
    checked (a damaged ledger stops the batch before its first file); None when not
    ``wanted`` or for a dry run."""
    if not wanted or opts.dry_run:
        return None
    book = ledger if isinstance(ledger, Ledger) else Ledger(
        ledger if ledger is not None else default_ledger_path(opts.cache_dir))
    try:
        book.check()
    except LedgerError:
        if book is not ledger:
            book.close()
        raise
    return book
