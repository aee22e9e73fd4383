"""The ``summarize-video`` command: parse options, call the library, render with rich."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from . import __version__
from .cache import CACHE_ENV
from .cost import format_cost_line
from .errors import EXIT_INPUT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, SummarizeVideoError
from .options import (
    CAPTION_CONTEXT_MODES,
    DEFAULT_LLM_MODEL,
    DEFAULT_WHISPER_MODEL_CPU,
    DEFAULT_WHISPER_MODEL_CUDA,
    FORMATS,
    SAMPLING_MODES,
    Options,
)

D = Options()
DEBUG_ENV = "SUMMARIZE_VIDEO_DEBUG"

EPILOG = f"""
\b
Examples:
  summarize-video talk.mp4
  summarize-video lectures/ --recursive --output-dir summaries/
  summarize-video talk.mp4 --base-url http://localhost:11434/v1 --llm-model llama3.2
  summarize-video talk.mp4 --no-llm --format json
\b
Python:
  from summarize_video import summarize
  result = summarize("talk.mp4", interval=10)
\b
Exit codes: {EXIT_OK} all inputs succeeded, {EXIT_INPUT_FAILED} some input failed (the others were
still processed), {EXIT_USAGE} usage or configuration error, {EXIT_INTERRUPTED} interrupted.
Set {DEBUG_ENV}=1 to see tracebacks.
"""


@click.command(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"],
                                                "max_content_width": 100})
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--interval", type=click.FloatRange(min=0, min_open=True), default=D.interval,
              show_default=True, help="Seconds between sampled frames.")
@click.option("--sampling", type=click.Choice(SAMPLING_MODES), default=D.sampling,
              show_default=True,
              help="interval: a frame every --interval s; scene: a frame per shot.")
@click.option("--scene-threshold", type=click.FloatRange(min=0, min_open=True),
              default=D.scene_threshold, show_default=True,
              help="Scene mode: content change (0-255) that counts as a cut.")
@click.option("--min-scene-gap", type=click.FloatRange(min=0), default=D.min_scene_gap,
              show_default=True, help="Scene mode: fewest seconds between frames.")
@click.option("--max-scene-gap", type=click.FloatRange(min=0, min_open=True),
              default=D.max_scene_gap, show_default=True,
              help="Scene mode: most seconds without a frame.")
@click.option("--dedup-threshold", type=click.FloatRange(min=0, max=1),
              default=D.dedup_threshold, show_default=True,
              help="Share of the picture that must change for a frame to be captioned; "
              "0 captions every sampled frame.")
@click.option("--workers", type=click.IntRange(min=1), default=None, show_default="auto",
              help="Processes decoding parts of long videos in parallel.")
@click.option("--caption-model", default=D.caption_model, show_default=True,
              help="Captioning model: Hugging Face id or local folder (SmolVLM, BLIP, Florence-2).")
@click.option("--trust-remote-code", is_flag=True, default=D.trust_remote_code,
              help="Allow caption models that run their repository's own Python code.")
@click.option("--caption-batch-size", type=click.IntRange(min=1), default=D.caption_batch_size,
              show_default=True, help="Frames captioned per forward pass.")
@click.option("--whisper-model", default=None,
              show_default=f"{DEFAULT_WHISPER_MODEL_CUDA} on CUDA, {DEFAULT_WHISPER_MODEL_CPU} "
              "otherwise", help="Whisper model name or path to a .pt checkpoint.")
@click.option("--temperature", type=float, default=D.temperature, show_default=True,
              help="Whisper decoding temperature.")
@click.option("--temperature-increment", type=click.FloatRange(min=0),
              default=D.temperature_increment, show_default=True,
              help="Whisper temperature step on fallback; 0 disables fallback.")
@click.option("--silence-gate/--no-silence-gate", default=D.silence_gate, show_default=True,
              help="Skip silent stretches before whisper hears them.")
@click.option("--no-speech-threshold", type=click.FloatRange(0, 1),
              default=D.no_speech_threshold, show_default=True,
              help="Drop a segment whisper thinks is not speech above this probability "
              "(with a low log-probability).")
@click.option("--logprob-threshold", type=float, default=D.logprob_threshold,
              show_default=True, help="Average log-probability below which a segment is doubtful.")
@click.option("--compression-ratio-threshold", type=click.FloatRange(min=0),
              default=D.compression_ratio_threshold, show_default=True,
              help="Drop segments that repeat themselves beyond this gzip ratio; 0 disables.")
@click.option("--language", default=None, show_default="detect",
              help="Spoken language code, e.g. en.")
@click.option("--llm-model", default=DEFAULT_LLM_MODEL, show_default=True,
              help="Reasoning model name on the server.")
@click.option("--base-url", default=None, show_default="OpenAI; env OPENAI_BASE_URL",
              help="OpenAI-compatible server, e.g. http://localhost:11434/v1 for Ollama.")
@click.option("--api-key", default=None, show_default="env OPENAI_API_KEY",
              help="API key for the reasoning server. Never written anywhere.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=D.timeout,
              show_default=True, help="Seconds before an LLM request is abandoned.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default=D.device,
              show_default=True, help="Device for the local models.")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path),
              default=D.output_dir, show_default=True, help="Folder for the output files.")
@click.option("--format", "formats", default=",".join(D.formats), show_default=True,
              help=f"Output formats, comma-separated ({', '.join(FORMATS)}) or all.")
@click.option("--prompts-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder with your own prompt files (system.md, summary.md, caption.txt, "
              "caption_context.txt).")
@click.option("--prices", "prices_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="TOML price table ([prices.\"MODEL\"] input_per_mtok, "
              "output_per_mtok) extending the shipped one.")
@click.option("--no-llm", is_flag=True, default=D.no_llm,
              help="Write captions and transcript only; call no LLM.")
@click.option("--caption-context", type=click.Choice(CAPTION_CONTEXT_MODES),
              default=D.caption_context, show_default=True,
              help="speech: chat VLMs also see what is said around each frame.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              show_default=f"env {CACHE_ENV} or the user cache folder",
              help="Where captions and transcripts are cached.")
@click.option("--no-cache", is_flag=True, default=D.no_cache,
              help="Neither read nor write the cache.")
@click.option("-r", "--recursive", is_flag=True, help="Descend into sub-folders.")
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
@click.option("-v", "--verbose", is_flag=True, help="Log what each stage does.")
@click.version_option(__version__, "--version", prog_name="summarize-video")
def cli(paths: tuple[Path, ...], recursive: bool, quiet: bool, verbose: bool,
        **values: Any) -> None:
    """Summarize videos: local frame captions and a local transcript, reasoned over by one LLM.

    PATHS are video or audio files, or folders of them. For each input, NAME.summary.md and
    NAME.summary.json are written to the output folder. The first real run downloads the
    default models.
    """
    err = Console(stderr=True, soft_wrap=True)
    _setup_logging(verbose, quiet)
    try:
        code = _run(paths, recursive, quiet, values, err)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        code = EXIT_INTERRUPTED
    except SummarizeVideoError as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        err.print(f"[red]error:[/] {exc.one_line()}", markup=True, highlight=False)
        code = exc.exit_code
    sys.exit(code)


def _run(paths: tuple[Path, ...], recursive: bool, quiet: bool, values: dict[str, Any],
         err: Console) -> int:
    from .batch import summarize_many
    from .pipeline import Summarizer

    if values.get("compression_ratio_threshold") == 0:
        values["compression_ratio_threshold"] = None
    options = Options.from_kwargs(**values)
    failed = succeeded = 0
    show_progress = not quiet and err.is_terminal
    with Progress(TextColumn("{task.description:<11}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True,
                  disable=not show_progress) as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        summarizer = Summarizer(options, progress=progress)
        for outcome in summarize_many(paths, recursive=recursive, summarizer=summarizer):
            for task in tasks.values():
                bar.remove_task(task)
            tasks.clear()
            if outcome.error is not None:
                failed += 1
                err.print(f"[red]failed:[/] {outcome.error.one_line()}", highlight=False)
                continue
            succeeded += 1
            if not quiet:
                written = ", ".join(str(p) for p in outcome.outputs)
                err.print(f"[green]done:[/] {outcome.path} ({outcome.seconds:.1f} s) -> {written}",
                          highlight=False)
                result = outcome.result
                if result is not None and result.summary:
                    click.echo(result.summary)
                    err.print(format_cost_line(result.cost), highlight=False)
    if failed + succeeded == 0:
        err.print("[yellow]no media files found[/]", highlight=False)
        return EXIT_INPUT_FAILED
    return EXIT_INPUT_FAILED if failed else EXIT_OK


def _setup_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "openai", "httpcore"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def main() -> None:
    """Console-script entry point."""
    try:
        cli.main(standalone_mode=True)
    except SystemExit:
        raise
    except Exception as exc:  # an internal error: one line unless debugging
        if os.environ.get(DEBUG_ENV):
            raise
        click.echo(f"error: internal error: {type(exc).__name__}: {exc} "
                   f"(set {DEBUG_ENV}=1 for a traceback)", err=True)
        sys.exit(EXIT_INPUT_FAILED)
