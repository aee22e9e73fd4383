"""``ask-library`` and ``export``: render what ``catalog.library`` and ``catalog.export``
return (the commands themselves are declared in ``main``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console

from ..errors import EXIT_INPUT_FAILED, EXIT_OK
from ..timeline import format_timestamp
from .flags import options_from


def ask_library_body(question: str, limit: int, include: tuple[str, ...],
                     ledger: Path | None, quiet: bool, values: dict[str, Any],
                     err: Console) -> int:
    """Answer ``question`` from the catalog: the answer on stdout, then one line per
    citation (``[n] file mm:ss``); what was dropped and the usage on stderr."""
    from ..catalog.library import ask_library

    options = options_from(values)
    answer = ask_library(question, limit=limit, include=include, ledger=ledger,
                         options=options, dry_run=options.dry_run)
    if options.dry_run:
        click.echo(f"# {len(answer.passages)} passage(s) retrieved; "
                   f"{len(answer.requests)} request(s)")
        for i, request in enumerate(answer.requests, 1):
            click.echo(f"\n## request {i}: {request['tokens']} tokens")
            for message in request["messages"]:
                click.echo(f"\n### {message['role']}\n{message['content']}")
        return EXIT_OK
    click.echo(answer.answer or "")
    for n, cite in enumerate(answer.citations, 1):
        stamp = "whole file" if cite.t is None else format_timestamp(cite.t)
        click.echo(f"[{n}] {cite.path} {stamp}")
    if not quiet:
        if answer.dropped_citations:
            err.print(f"dropped {answer.dropped_citations} citation(s) of a file or time the "
                      "passages did not hold", highlight=False, markup=False)
        if answer.calls:
            err.print(f"{len(answer.passages)} passage(s), {answer.calls} call(s), "
                      f"{answer.usage.prompt_tokens} tokens in, "
                      f"{answer.usage.completion_tokens} out", highlight=False, markup=False)
    return EXIT_OK if answer.answer is not None else EXIT_INPUT_FAILED


def export_body(out: Path, fmt: str, include: tuple[str, ...], since: str | None,
                latest: bool, ledger: Path | None, quiet: bool, err: Console) -> int:
    from ..catalog.export import export, parse_since

    done = export(out, format=fmt, include=include,
                  since=parse_since(since) if since else None, latest=latest, ledger=ledger)
    if not quiet:
        err.print(f"wrote {done.files} file version(s) to {done.files_path} and "
                  f"{done.entries} timeline entries to {done.entries_path} "
                  f"({done.bytes / 1e6:.1f} MB)", highlight=False, markup=False)
    return EXIT_OK
