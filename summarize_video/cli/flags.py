"""The options every command that runs the pipeline shares, with their defaults from Options."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from ..captioning.registry import CAPTIONERS
from ..catalog.ledger import LEDGER_ENV, LEDGER_NAME
from ..options import (
    CACHE_ENV,
    CAPTION_CONTEXT_MODES,
    CAPTION_PRECISIONS,
    COMPUTE_TYPES,
    DEFAULT_LLM_MODEL,
    DEFAULT_LOCAL_LLM_MODEL,
    DEFAULT_WHISPER_MODEL_CPU,
    DEFAULT_WHISPER_MODEL_CUDA,
    FORMATS,
    OCR_MODES,
    SAMPLING_MODES,
    TRANSCRIPT_SOURCES,
    VAD_MODES,
    Options,
)
from ..reasoning.registry import REASONERS
from ..transcription.registry import TRANSCRIBERS
from .config import Check, resolve

D = Options()

PIPELINE_OPTIONS: list[Callable[[Any], Any]] = [
    click.option("--interval", type=click.FloatRange(min=0, min_open=True), default=D.interval,
                 show_default=True, help="Seconds between sampled frames."),
    click.option("--sampling", type=click.Choice(SAMPLING_MODES), default=D.sampling,
                 show_default=True,
                 help="interval: a frame every --interval s; scene: a frame per shot."),
    click.option("--scene-threshold", type=click.FloatRange(min=0, min_open=True),
                 default=D.scene_threshold, show_default=True,
                 help="Scene mode: content change (0-255) that counts as a cut."),
    click.option("--min-scene-gap", type=click.FloatRange(min=0), default=D.min_scene_gap,
                 show_default=True, help="Scene mode: fewest seconds between frames."),
    click.option("--max-scene-gap", type=click.FloatRange(min=0, min_open=True),
                 default=D.max_scene_gap, show_default=True,
                 help="Scene mode: most seconds without a frame."),
    click.option("--dedup-threshold", type=click.FloatRange(min=0, max=1),
                 default=D.dedup_threshold, show_default=True,
                 help="Share of the picture that must change for a frame to be captioned; "
                 "0 captions every sampled frame."),
    click.option("--workers", type=click.IntRange(min=1), default=None, show_default="auto",
                 help="Processes decoding parts of long videos in parallel."),
    click.option("--max-pixels", type=click.IntRange(min=0), default=D.max_pixels,
                 show_default=True, help="Refuse a file whose header claims a larger picture "
                 "(width x height), before decoding anything; 0: no limit."),
    click.option("--max-fps", type=click.FloatRange(min=0), default=D.max_fps,
                 show_default=True, help="Refuse a file whose header claims more frames per "
                 "second; 0: no limit."),
    click.option("--max-duration", type=click.FloatRange(min=0), default=D.max_duration,
                 show_default="no limit", help="Refuse a file whose header claims more seconds; "
                 "0: no limit."),
    click.option("--decode-timeout", type=click.FloatRange(min=0), default=D.decode_timeout,
                 show_default=True, help="Seconds decoding may go without progress before the "
                 "file is abandoned as hung (its decoding processes killed); 0: no limit."),
    click.option("--captioner", default=D.captioner, show_default=True,
                 help="Captioning backend: auto (the best installed for the device) or a "
                 f"name ({', '.join(CAPTIONERS)})."),
    click.option("--caption-model", default=D.caption_model, show_default=True,
                 help="Captioning model: Hugging Face id or local folder (SmolVLM, BLIP, "
                 "Florence-2)."),
    click.option("--trust-remote-code", is_flag=True, default=D.trust_remote_code,
                 help="Allow caption models that run their repository's own Python code."),
    click.option("--caption-batch-size", type=click.IntRange(min=1), default=D.caption_batch_size,
                 show_default=True, help="Frames captioned per forward pass."),
    click.option("--transcript", "transcript_source", type=click.Choice(TRANSCRIPT_SOURCES),
                 default=D.transcript_source, show_default=True,
                 help="Where the transcript comes from: subtitles (a text track of the file, "
                 "or NAME.srt / NAME.vtt / NAME.LANG.srt beside it), asr (speech "
                 "recognition), or auto (subtitles when there are some, else asr)."),
    click.option("--threads", type=click.IntRange(min=1), default=D.threads,
                 show_default="every usable core", help="CPU threads the captioner and the "
                 "transcriber use in all; while both run they share them in proportion to "
                 "their expected work (the screen reader takes a third of captioning's)."),
    click.option("--caption-max-new-tokens", type=click.IntRange(min=1),
                 default=D.caption_max_new_tokens, show_default=True,
                 help="Most tokens generated per caption. Captions are one sentence (~20-30 "
                 "tokens): generation stops at its end, and a caption cut mid-sentence is "
                 "trimmed back to its first full sentence."),
    click.option("--caption-precision", type=click.Choice(CAPTION_PRECISIONS),
                 default=D.caption_precision, show_default=True,
                 help="Weights of the onnx captioner (SmolVLM on the CPU): int8 is fastest; "
                 "fp32 gives the transformers captioner's captions."),
    click.option("--transcriber", default=D.transcriber, show_default=True,
                 help="Transcription backend: auto (the best installed for the device) or a "
                 f"name ({', '.join(TRANSCRIBERS)})."),
    click.option("--whisper-model", default=None,
                 show_default=f"{DEFAULT_WHISPER_MODEL_CUDA} on CUDA, {DEFAULT_WHISPER_MODEL_CPU} "
                 "otherwise", help="Whisper model name (tiny.en, base, turbo...), a .pt "
                 "checkpoint (whisper) or a CTranslate2 folder or hub id (faster-whisper)."),
    click.option("--compute-type", type=click.Choice(COMPUTE_TYPES), default=D.compute_type,
                 show_default=True, help="faster-whisper's CTranslate2 compute type; auto is "
                 "int8 on the CPU and float16 on CUDA."),
    click.option("--temperature", type=float, default=D.temperature, show_default=True,
                 help="Whisper decoding temperature."),
    click.option("--temperature-increment", type=click.FloatRange(min=0),
                 default=D.temperature_increment, show_default=True,
                 help="Whisper temperature step on fallback; 0 disables fallback."),
    click.option("--silence-gate/--no-silence-gate", default=D.silence_gate, show_default=True,
                 help="Skip silent stretches before whisper hears them (--no-silence-gate is "
                 "--vad off)."),
    click.option("--vad", type=click.Choice(VAD_MODES), default=D.vad, show_default=True,
                 help="What finds the speech the gate lets through: silero (a neural VAD "
                 "that tells speech from music), energy (any loud sound), off (no gate); auto "
                 "is silero when its model file is installed (it ships with faster-whisper), "
                 "else energy. The one that ran is in the JSON's provenance."),
    click.option("--no-speech-threshold", type=click.FloatRange(0, 1),
                 default=D.no_speech_threshold, show_default=True,
                 help="Drop a segment whisper thinks is not speech above this probability "
                 "(with a low log-probability)."),
    click.option("--logprob-threshold", type=float, default=D.logprob_threshold,
                 show_default=True,
                 help="Average log-probability below which a segment is doubtful."),
    click.option("--compression-ratio-threshold", type=click.FloatRange(min=0),
                 default=D.compression_ratio_threshold, show_default=True,
                 help="Drop segments that repeat themselves beyond this gzip ratio; 0 disables."),
    click.option("--language", default=None, show_default="detect",
                 help="Spoken language code, e.g. en."),
    click.option("--llm-backend", "reasoner", type=click.Choice(["auto", *REASONERS]),
                 default=D.reasoner, show_default=True,
                 help="openai: an OpenAI-compatible server; transformers: a local model; auto: "
                 "openai when a key or base URL is set, else transformers."),
    click.option("-m", "--llm-model", default=DEFAULT_LLM_MODEL,
                 show_default=f"{DEFAULT_LLM_MODEL}; {DEFAULT_LOCAL_LLM_MODEL} locally",
                 help="Reasoning model: a name on the server, or a local id or folder."),
    click.option("--base-url", default=None, show_default="OpenAI; env OPENAI_BASE_URL",
                 help="OpenAI-compatible server, e.g. http://localhost:11434/v1 for Ollama."),
    click.option("--api-key", default=None, show_default="env OPENAI_API_KEY",
                 help="API key for the reasoning server. Never written anywhere."),
    click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=D.timeout,
                 show_default=True,
                 help="Deadline in seconds for a whole LLM request (each attempt), not per read."),
    click.option("--llm-max-retries", type=click.IntRange(min=0), default=D.llm_max_retries,
                 show_default=True,
                 help="Retries of an LLM request after 429, 5xx, timeouts (Retry-After honoured)."),
    click.option("--llm-max-output-tokens", type=click.IntRange(min=1), default=None,
                 show_default="25000 for reasoning models, else 4096; at most half the context",
                 help="Tokens reserved for each LLM answer."),
    click.option("--context-tokens", type=click.IntRange(min=256), default=None,
                 show_default="from the model name; 8192 if unknown",
                 help="Most tokens one LLM request may use; longer videos are summarized in "
                 "windows, then combined."),
    click.option("--focus", default=None,
                 help="A question or theme the summary should answer."),
    click.option("--dry-run", is_flag=True, default=D.dry_run,
                 help="Print the LLM requests and their token counts; send nothing."),
    click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default=D.device,
                 show_default=True, help="Device for the local models."),
    click.option("-o", "--output-dir", type=click.Path(file_okay=False, path_type=Path),
                 default=D.output_dir, show_default=True, help="Folder for the output files."),
    click.option("-f", "--format", "formats", default=",".join(D.formats), show_default=True,
                 help=f"Output formats, comma-separated ({', '.join(FORMATS)}) or all."),
    click.option("--thumbnails/--no-thumbnails", default=D.thumbnails, show_default=True,
                 help="Frame thumbnails in the HTML report."),
    click.option("--prompts-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                 help="Folder with your own prompt files (system.md, summary.md, caption.txt, "
                 "caption_context.txt)."),
    click.option("--prices", "prices_file", type=click.Path(dir_okay=False, path_type=Path),
                 default=None, help="TOML price table ([prices.\"MODEL\"] input_per_mtok, "
                 "output_per_mtok) extending the shipped one."),
    click.option("--no-llm", is_flag=True, default=D.no_llm,
                 help="Write captions and transcript only; call no LLM."),
    click.option("--caption-context", type=click.Choice(CAPTION_CONTEXT_MODES),
                 default=D.caption_context, show_default=True,
                 help="speech: chat VLMs also see what is said around each frame."),
    click.option("--ocr", type=click.Choice(OCR_MODES), default=D.ocr, show_default=True,
                 help="Read on-screen text (slides, subtitles) into the timeline; auto: when "
                 "an OCR backend is installed."),
    click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                 show_default=f"env {CACHE_ENV} or the user cache folder",
                 help="Where captions and transcripts are cached."),
    click.option("--no-cache", is_flag=True, default=D.no_cache,
                 help="Neither read nor write the cache."),
    click.option("--max-download-mb", type=click.IntRange(min=1), default=D.max_download_mb,
                 show_default=True, help="URL inputs: largest download, in MB."),
]


def pipeline_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Apply every pipeline option to a click command, in the order listed."""
    for option in reversed(PIPELINE_OPTIONS):
        f = option(f)
    return f


def options_from(values: dict[str, Any]) -> Options:
    """Options from parsed CLI values, the environment and the config file."""
    return resolved_options(values)[0]


def resolved_options(values: dict[str, Any]) -> tuple[Options, dict[str, str]]:
    """Options and where each came from: flags typed on the command line, then
    ``SUMMARIZE_VIDEO_*`` variables, then the config file, then defaults (see ``config``).
    CLI conventions such as "0 disables" are resolved here, whatever the source."""
    ctx = click.get_current_context(silent=True)
    explicit = set(values) if ctx is None else {
        name for name in values
        if ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT,
                                                  ParameterSource.DEFAULT_MAP)}
    options, sources = resolve(values, explicit, checks=_value_checks())
    if options.compression_ratio_threshold == 0:
        options = options.replace(compression_ratio_threshold=None)
    return options, sources


def _value_checks() -> dict[str, Check]:
    """The ranges and choices of the flags, for the same options from the environment and the
    config file."""
    params = getattr(pipeline_options(lambda: None), "__click_params__", [])
    checks: dict[str, Check] = {}
    for param in params:
        if param.name and isinstance(param.type, (click.FloatRange, click.IntRange,
                                                  click.Choice)):
            checks[param.name] = functools.partial(_check, param.type)
    return checks


def _check(kind: click.ParamType, value: Any) -> None:
    try:
        kind.convert(value, None, None)
    except click.BadParameter as exc:
        raise ValueError(exc.message) from None


JSON_OPTION = click.option(
    "--json", "json_out", is_flag=True,
    help="Print each result as one line of JSON on stdout (the .summary.json content) and "
    "nothing else there; messages and progress stay on stderr.")

LEDGER_OPTION = click.option(
    "--ledger", type=click.Path(dir_okay=False, path_type=Path), default=None,
    show_default=f"env {LEDGER_ENV} or {LEDGER_NAME} in the cache folder",
    help="The run ledger: the SQLite catalog of finished files that resume and search use.")

BATCH_OPTIONS: list[Callable[[Any], Any]] = [
    click.option("--include", multiple=True, metavar="GLOB",
                 help="Only files whose path relative to a folder given matches GLOB "
                 "(fnmatch, or PurePath.match on its last parts: '*.mp4', 'talks/*'); "
                 "repeatable."),
    click.option("--exclude", multiple=True, metavar="GLOB",
                 help="Leave out files (and sub-folders) whose relative path matches GLOB; "
                 "repeatable."),
    click.option("--force", is_flag=True,
                 help="Redo files the ledger has done with the same content and settings."),
    click.option("--overwrite", is_flag=True,
                 help="Replace existing output files this tool did not write (by default a "
                 "file whose outputs would replace them fails, and nothing is written)."),
    LEDGER_OPTION,
    click.option("--executor", type=click.Choice(["local", "ray"]), default="local",
                 show_default=True,
                 help="local: this process; ray: across a Ray cluster (pip install "
                 "\"summarize-video[ray]\"); same outputs and ledger."),
    click.option("--ray-address", default=None, metavar="ADDR",
                 show_default="env RAY_ADDRESS, else a Ray instance on this machine",
                 help="Ray head node to run on (HOST:PORT, or auto); with --executor ray."),
    click.option("--ray-workers", type=click.IntRange(min=1), default=None,
                 show_default="one per GPU, else one per CPU",
                 help="Ray workers, each with its models loaded once; with --executor ray."),
    click.option("--llm-concurrency", type=click.IntRange(min=1), default=None,
                 show_default="4",
                 help="Most reasoning calls at a time across the Ray cluster (keep it under "
                 "the server's rate limit); with --executor ray."),
]


def batch_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Apply the options of a batch run (selection, resume, ledger) to a click command."""
    for option in reversed(BATCH_OPTIONS):
        f = option(f)
    return f
