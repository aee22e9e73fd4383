"""The local executor: a batch's files summarized one after the other in this process."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Sequence

from ..inputs.discovery import Input
from .batch import Batch, Outcome


def run_locally(batch: Batch, inputs: Sequence[Input]) -> Iterator[Outcome]:
    """Summarize the inputs one after the other in this process, in order."""
    summarizer = batch.summarizer
    for index, item in enumerate(inputs):
        summarizer.progress("files", index, len(inputs))
        if item.error is not None:
            yield Outcome(item.path, error=item.error, url=item.url)
            continue
        refused = batch.refused(item)  # junk is refused before it is hashed
        if refused is not None:
            yield refused
            continue
        content_hash = batch.content_hash(item)
        skipped = batch.done_before(item, content_hash)
        if skipped is not None:
            yield skipped
            continue
        run = functools.partial(summarizer.run, item.url or item.path)
        yield batch.finish(item, content_hash, run, time.perf_counter())
    summarizer.progress("files", len(inputs), len(inputs))
