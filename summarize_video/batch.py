"""Summarize many files with one set of loaded models; one file's failure never stops the rest."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .discovery import discover
from .errors import EXIT_USAGE, SummarizeVideoError
from .options import Options
from .pipeline import Summarizer
from .results import Result
from .writers import output_stems, write_outputs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    # The input file (for a URL input, the file name it gives).
    path: Path
    # The result, or None when the file failed.
    result: Result | None = None
    # Why the file failed; None on success.
    error: SummarizeVideoError | None = None
    # Files written for this input.
    outputs: tuple[Path, ...] = field(default=())
    seconds: float = 0.0
    # The http(s) URL of a URL input (downloaded, processed, then removed); None for files.
    url: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def summarize_many(
    paths: Iterable[str | Path],
    *,
    recursive: bool = False,
    write: bool = True,
    summarizer: Summarizer | None = None,
    options: Options | None = None,
    **option_values: Any,
) -> Iterator[Outcome]:
    """Yield one ``Outcome`` per input file, in a deterministic order.

    Errors that concern one file (missing, undecodable, an LLM failure) become that file's
    outcome. Configuration errors (a model that cannot load, a rejected API key) would fail
    every file the same way, so they are raised.
    """
    if summarizer is None:
        summarizer = Summarizer(Options.from_kwargs(options, **option_values))
    opts = summarizer.options
    items = list(discover(paths, recursive=recursive))
    stems = output_stems([i.path for i in items if i.error is None])
    for item in items:
        if item.error is not None:
            yield Outcome(item.path, error=item.error, url=item.url)
            continue
        started = time.perf_counter()
        try:
            result = summarizer.summarize(item.url or item.path)
            outputs = write_outputs(result, opts.output_dir, opts.formats,
                                    stem=stems[item.path]) if write else []
        except SummarizeVideoError as exc:
            partial = getattr(exc, "partial", None)
            outputs = []
            if write and isinstance(partial, Result):
                outputs = write_outputs(partial, opts.output_dir, opts.formats,
                                        stem=stems[item.path])
            if exc.exit_code == EXIT_USAGE:
                raise
            if exc.path is None:
                exc.path = item.url or str(item.path)
            log.debug("%s failed", item.path, exc_info=True)
            yield Outcome(item.path, result=partial if isinstance(partial, Result) else None,
                          error=exc, outputs=tuple(outputs),
                          seconds=time.perf_counter() - started, url=item.url)
            continue
        except Exception as exc:
            if os.environ.get("SUMMARIZE_VIDEO_DEBUG"):
                raise
            log.debug("%s failed", item.path, exc_info=True)
            error = SummarizeVideoError(
                f"unexpected {type(exc).__name__}: {exc}", path=item.url or str(item.path),
                hint="set SUMMARIZE_VIDEO_DEBUG=1 for a traceback and report it",
            )
            yield Outcome(item.path, error=error, seconds=time.perf_counter() - started,
                          url=item.url)
            continue
        yield Outcome(item.path, result=result, outputs=tuple(outputs),
                      seconds=time.perf_counter() - started, url=item.url)
