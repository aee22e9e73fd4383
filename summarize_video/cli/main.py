"""The ``summarize-video`` command: parse options, call the library, render with rich."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from .._version import __version__
from ..catalog.export import FORMATS as EXPORT_FORMATS
from ..errors import (
    EXIT_INPUT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_USAGE,
    ConfigError,
    SummarizeVideoError,
    Terminated,
)
from ..pipeline.cost import format_cost_line
from ..redaction import redact_url
from .batch_view import BatchReport, print_hits
from .flags import JSON_OPTION, LEDGER_OPTION, batch_options, options_from, pipeline_options
from .library import ask_library_body, export_body
from .signals import terminate_like_ctrl_c
from .terminal import Bars, logging_to

DEBUG_ENV = "SUMMARIZE_VIDEO_DEBUG"
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

EPILOG = f"""
\b
Examples:
  summarize-video talk.mp4
  summarize-video lectures/ --recursive --output-dir summaries/
  summarize-video /shared/archive/ -r --executor ray --ray-address 10.0.0.1:6379
  summarize-video talk.mp4 --base-url http://localhost:11434/v1 --llm-model llama3.2
  summarize-video talk.mp4 --no-llm --format json
  summarize-video talk.mp4 --dry-run
  summarize-video ask talk.mp4 "What does she say about pricing?"
  summarize-video search "whiteboard"
  summarize-video ask-library "Which talks cover pricing?"
  summarize-video export dataset/ --format parquet --latest
  summarize-video talk.mp4 --json | jq .summary
  summarize-video models
\b
Python:
  from summarize_video import summarize
  result = summarize("talk.mp4", interval=10)
\b
Exit codes: {EXIT_OK} all inputs succeeded, {EXIT_INPUT_FAILED} some input failed (the others were
still processed), {EXIT_USAGE} usage or configuration error, {EXIT_INTERRUPTED} interrupted
(Ctrl-C), {EXIT_TERMINATED} terminated (SIGTERM).
Set {DEBUG_ENV}=1 to see tracebacks.
"""


class _SummarizeByDefault(click.Group):
    """``summarize-video PATH...`` means ``summarize-video summarize PATH...``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or args[0] not in self.commands:
            args = ["summarize", *args]
        return super().parse_args(ctx, args)

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        """Click's own errors (a bad option, a missing argument) in our style: one line
        ``error: ...`` on stderr, exit code 2 for usage errors, instead of click's usage
        block and ``Error:``."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.ClickException as exc:
            click.echo(f"error: {_click_message(exc)}", err=True)
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        sys.exit(code if isinstance(code, int) else EXIT_OK)


def _click_message(exc: click.ClickException) -> str:
    """``no such option: --intervall (did you mean --interval?; see 'summarize-video
    summarize --help')`` on one line, lower-case first as our own messages."""
    text = " ".join(exc.format_message().split())
    text = text[:1].lower() + text[1:]
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        text = f"{text.rstrip('.')} (see '{ctx.command_path} --help')"
    return text


@click.group(cls=_SummarizeByDefault, context_settings=CONTEXT)
def cli() -> None:
    """summarize-video: summarize videos (default command) or ask them questions."""


def _common(f: Callable[..., Any]) -> Callable[..., Any]:
    f = pipeline_options(f)
    f = JSON_OPTION(f)
    f = click.option("-v", "--verbose", is_flag=True, help="Log what each stage does.")(f)
    f = click.option("-q", "--quiet", is_flag=True,
                     help="No progress and no messages: results and errors only.")(f)
    return f


@cli.command("summarize", epilog=EPILOG, context_settings=CONTEXT)
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("-r", "--recursive", is_flag=True, help="Descend into sub-folders.")
@batch_options
@_common
@click.version_option(__version__, "--version", prog_name="summarize-video")
def summarize_command(paths: tuple[str, ...], recursive: bool, include: tuple[str, ...],
                      exclude: tuple[str, ...], force: bool, overwrite: bool,
                      ledger: Path | None,
                      executor: str, ray_address: str | None, ray_workers: int | None,
                      llm_concurrency: int | None, quiet: bool, verbose: bool,
                      **values: Any) -> None:
    """Summarize videos: local frame captions and a local transcript, reasoned over by one LLM.

    PATHS are video or audio files, or folders of them. For each input, NAME.summary.md and
    NAME.summary.json are written to the output folder. The first real run downloads the
    default models. Files already done with the same content and settings (see --ledger) are
    skipped. PATHS may be file:// URIs; with --executor ray they must be readable on every
    node. Also: `summarize-video ask VIDEO QUESTION`, `summarize-video search QUERY`.
    """
    batch = {"include": include, "exclude": exclude, "force": force,
             "overwrite": overwrite, "ledger": ledger,
             "executor": executor, "ray_address": ray_address, "ray_workers": ray_workers,
             "llm_concurrency": llm_concurrency}
    _guarded(verbose, quiet, lambda err: _summarize(paths, recursive, quiet, values, err, batch))


@cli.command("ask", context_settings=CONTEXT)
@click.argument("video", type=click.Path())
@click.argument("question")
@_common
def ask_command(video: str, question: str, quiet: bool, verbose: bool, **values: Any) -> None:
    """Answer QUESTION about VIDEO from its captions and transcript (cached after a first run)."""
    _guarded(verbose, quiet, lambda err: _ask(video, question, quiet, values, err))


@cli.command("config", context_settings=CONTEXT)
@click.option("--path", "path_only", is_flag=True, help="Print only the config file's path.")
@pipeline_options
def config_command(path_only: bool, **values: Any) -> None:
    """Show each setting, its value and where it came from: flag, environment, config file or
    default (flags given here are applied as in a run). The API key shows as set or not set."""
    from .config_view import show_config

    _guarded(False, False, lambda err: show_config(values, path_only))


@cli.command("search", context_settings=CONTEXT)
@click.argument("query")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="Most hits shown.")
@click.option("--rebuild", is_flag=True,
              help="Make the search index again from the ledger first (when it is damaged).")
@LEDGER_OPTION
def search_command(query: str, limit: int, rebuild: bool, ledger: Path | None) -> None:
    """Search the summaries, captions and transcripts of every file summarized so far.

    QUERY: words (all must occur), "a phrase", prefix*, OR, NOT; punctuation is fine. Prints
    `file  mm:ss  kind  snippet` per hit, the best first.
    """
    _guarded(False, False, lambda err: _search(query, limit, ledger, err, rebuild))


@cli.command("ask-library", context_settings=CONTEXT)
@click.argument("question")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="Most catalog passages retrieved for the question.")
@click.option("--include", multiple=True, metavar="GLOB",
              help="Only files whose path matches GLOB (repeatable), e.g. 'lectures/*'.")
@LEDGER_OPTION
@_common
def ask_library_command(question: str, limit: int, include: tuple[str, ...],
                        ledger: Path | None, quiet: bool, verbose: bool, **values: Any) -> None:
    """Answer QUESTION from every file summarized so far, citing file and mm:ss.

    The most relevant passages of the catalog (summaries, chapters, captions, speech, screen
    text) go to the LLM as data; citations it makes up are dropped. --dry-run prints the
    request and its tokens.
    """
    _guarded(verbose, quiet, lambda err: ask_library_body(question, limit, include, ledger,
                                                          quiet, values, err))


@cli.command("export", context_settings=CONTEXT)
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), default="jsonl",
              show_default=True, help="parquet needs pyarrow: pip install "
              "'summarize-video[export]'.")
@click.option("--include", multiple=True, metavar="GLOB",
              help="Only files whose path matches GLOB (repeatable).")
@click.option("--since", metavar="DATE", help="Only versions finished from DATE on "
              "(ISO date or date-time).")
@click.option("--latest", is_flag=True, help="Only the newest version of each file.")
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
@LEDGER_OPTION
def export_command(out: Path, fmt: str, include: tuple[str, ...], since: str | None,
                   latest: bool, quiet: bool, ledger: Path | None) -> None:
    """Write the catalog as a dataset into folder OUT: files.FORMAT (one row per version of
    a file) and entries.FORMAT (one row per caption, speech segment, screen text, chapter and
    key moment), each row with its settings fingerprint and model ids."""
    _guarded(False, quiet, lambda err: export_body(out, fmt, include, since, latest, ledger,
                                                   quiet, err))


@cli.command("models", context_settings=CONTEXT)
@JSON_OPTION
@pipeline_options
def models_command(json_out: bool, **values: Any) -> None:
    """List each stage's backends (captioner, transcriber, reasoner), which are installed, and
    what a run would use: backend, model and device (flags given here are applied as in a
    run)."""
    from .models_view import show_models

    _guarded(False, False, lambda err: show_models(values, json_out))


def _guarded(verbose: bool, quiet: bool, body: Callable[[Console], int]) -> None:
    """Run a command body; library errors become one line and an exit code."""
    err = Console(stderr=True, soft_wrap=True)
    try:
        terminate_like_ctrl_c()
        with logging_to(err, verbose, quiet):
            code = body(err)
    except Terminated:
        err.print("[yellow]terminated[/]")
        code = EXIT_TERMINATED
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        code = EXIT_INTERRUPTED
    except SummarizeVideoError as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        err.print(f"[red]error:[/] {escape(exc.one_line())}", markup=True, highlight=False)
        code = exc.exit_code
    sys.exit(code)


def _summarize(paths: tuple[str, ...], recursive: bool, quiet: bool, values: dict[str, Any],
               err: Console, batch: dict[str, Any]) -> int:
    from ..batch.run import summarize_many
    from ..pipeline.summarizer import Summarizer

    json_out = values.pop("json_out", False)
    _check_ray_flags(batch)
    options = options_from(values)
    failed = succeeded = unrecorded = 0
    bars = Bars(err, not quiet and err.is_terminal)
    report = BatchReport(err, quiet)
    with report.on_interrupt(), bars.bar:
        summarizer = Summarizer(options, progress=bars)
        if batch["executor"] == "ray" and importlib.util.find_spec("ray") is not None:
            _starting_ray(bars, err, quiet)
        for outcome in summarize_many(paths, recursive=recursive, summarizer=summarizer,
                                      write=not options.dry_run, **batch):
            bars.reset()
            bars.files.finished(outcome)
            report.add(outcome)
            if outcome.skipped:
                succeeded += 1
                report.skipped_line(outcome)
                continue
            if outcome.error is not None:
                failed += 1
                err.print(f"[red]failed:[/] {escape(outcome.error.one_line())}", highlight=False)
                continue
            succeeded += 1
            if outcome.unrecorded is not None:  # outputs written, the ledger full: exit 1
                unrecorded += 1
                err.print(f"[yellow]warning:[/] {escape(outcome.unrecorded.one_line())}",
                          highlight=False)
            if outcome.result is not None:
                _show_result(outcome, options.dry_run, quiet, json_out, bars, err)
    report.print()
    if failed + succeeded == 0:
        err.print("[yellow]no media files found[/]", highlight=False)
        return EXIT_INPUT_FAILED
    return EXIT_INPUT_FAILED if failed or unrecorded else EXIT_OK


def _starting_ray(bars: Bars, err: Console, quiet: bool) -> None:
    """Ray takes seconds to start (longer on a cluster): say so until the first file comes."""
    if bars.bar.disable:
        if not quiet:
            err.print("starting Ray...", highlight=False, markup=False)
        return
    bars.wait("starting Ray")


def _check_ray_flags(batch: dict[str, Any]) -> None:
    """The Ray flags without ``--executor ray``, named as typed (the library's own message
    speaks of its keyword arguments)."""
    if batch["executor"] == "ray":
        return
    given = [f"--{name.replace('_', '-')}" for name in ("ray_address", "ray_workers",
                                                        "llm_concurrency")
             if batch[name] is not None]
    if given:
        raise ConfigError(f"{', '.join(given)} only apply with --executor ray", stage="options",
                          hint="add --executor ray, or leave them out")


def _show_result(outcome: Any, dry_run: bool, quiet: bool, json_out: bool, bars: Bars,
                 err: Console) -> None:
    """A file's result on stdout (its summary, a dry run's requests, or with ``--json`` the
    whole result), written while the live bars are stopped so that they never draw over it;
    ``-q`` hides the messages around it, never the result."""
    from ..outputs.writers import result_json

    result = outcome.result
    if json_out:
        with bars.paused():
            click.echo(result_json(result))
    if dry_run:
        if not json_out:
            with bars.paused():
                _print_requests(result)
        return
    if not quiet:
        written = ", ".join(str(p) for p in outcome.outputs)
        shown = redact_url(outcome.url) if outcome.url else str(outcome.path)
        err.print(f"[green]done:[/] {escape(shown)} "
                  f"({outcome.seconds:.1f} s) -> {escape(written)}", highlight=False)
    if result.summary:
        if not json_out:
            with bars.paused():
                click.echo(result.summary)
        if not quiet:
            err.print(_reasoner_line(result), highlight=False)


def _ask(video: str, question: str, quiet: bool, values: dict[str, Any], err: Console) -> int:
    from ..batch.api import ask
    from ..outputs.writers import result_json

    json_out = values.pop("json_out", False)
    options = options_from(values)
    bars = Bars(err, not quiet and err.is_terminal)
    with bars.bar:
        result = ask(video, question, options=options, progress=bars)
    if json_out:
        click.echo(result_json(result))
        return EXIT_OK
    if options.dry_run:
        _print_requests(result)
        return EXIT_OK
    click.echo(result.summary or "")
    for moment in result.key_moments:
        click.echo(f"- {_stamp(moment.t)} {moment.text}")
    if not quiet:
        err.print(_reasoner_line(result), highlight=False)
    return EXIT_OK


def _search(query: str, limit: int, ledger: Path | None, err: Console, rebuild: bool) -> int:
    from ..catalog.ledger import Ledger, default_ledger_path
    from ..catalog.search import search

    with Ledger(ledger or default_ledger_path(), create=False) as book:
        if rebuild:
            book.rebuild_index()
            err.print(f"rebuilt the search index of {book.path}", highlight=False, markup=False)
        hits = search(query, limit=limit, ledger=book)
    if not hits:
        err.print(f"no matches for {query!r} in {book.path}", highlight=False, markup=False)
        return EXIT_OK
    print_hits(hits, Console(soft_wrap=True))
    return EXIT_OK


def _print_requests(result: Any) -> None:
    """The exact requests of a dry run, with their token counts."""
    r = result.reasoning
    exact = "exact" if r.get("tokens_exact") else "estimated"
    click.echo(f"# {result.video.path}: {len(result.requests)} request(s), context "
               f"{r.get('context_tokens')} tokens ({exact} counts)")
    if len(result.requests) > 1:
        click.echo("# map requests shown; the combining and final requests depend on their "
                   "answers")
    for i, request in enumerate(result.requests, 1):
        click.echo(f"\n## request {i}: {request['tokens']} tokens")
        for message in request["messages"]:
            click.echo(f"\n### {message['role']}\n{message['content']}")


def _reasoner_line(result: Any) -> str:
    s = result.settings
    line = f"reasoner: {s.get('llm_backend')} {s.get('llm_model')}"
    return f"{line}; {format_cost_line(result.cost)}" if result.cost else line


def _stamp(t: float) -> str:
    from ..timeline import format_timestamp

    return format_timestamp(t)


def main() -> None:
    """Console-script entry point."""
    try:
        cli.main(standalone_mode=True, prog_name="summarize-video")
    except SystemExit:
        raise
    except Exception as exc:  # an internal error: one line unless debugging
        if os.environ.get(DEBUG_ENV):
            raise
        click.echo(f"error: internal error: {type(exc).__name__}: {exc} "
                   f"(set {DEBUG_ENV}=1 for a traceback)", err=True)
        sys.exit(EXIT_INPUT_FAILED)

