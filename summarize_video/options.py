"""All run options in one frozen dataclass; the defaults are defined here once.

The CLI builds its ``--help`` from these defaults, and ``summarize(path, **options)`` takes the
same names.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .limits import DEFAULT_MAX_FPS, DEFAULT_MAX_PIXELS
from .redaction import redact_url

# A backend option set to this picks the best backend installed for the device.
AUTO = "auto"
DEFAULT_CAPTION_MODEL = "HuggingFaceTB/SmolVLM-256M-Instruct"
# Captions are one sentence (prompts/caption.txt asks for one; generation stops at its end):
# ~20-30 tokens. The cap bounds a caption that runs on; the end of a cut caption is trimmed
# back to its first full sentence when it has one.
DEFAULT_CAPTION_MAX_NEW_TOKENS = 32
DEFAULT_WHISPER_MODEL_CPU = "base"
DEFAULT_WHISPER_MODEL_CUDA = "turbo"
# CTranslate2 compute types the faster-whisper backend accepts; auto: int8 on the CPU,
# float16 on CUDA.
COMPUTE_TYPES = ("auto", "int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16",
                 "float16", "bfloat16", "float32")
DEFAULT_LLM_MODEL = "gpt-5-mini"
# Reasoning model run in-process (transformers) when no API key and no server URL are given.
DEFAULT_LOCAL_LLM_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
# Output formats: NAME.summary.md, .summary.json, .summary.txt, .captions.srt, .captions.vtt,
# .chapters.txt (YouTube chapter lines), .summary.html (a self-contained report).
FORMATS = ("md", "json", "txt", "srt", "vtt", "chapters", "html")
DEFAULT_FORMATS = ("md", "json")
SAMPLING_MODES = ("interval", "scene")
# Where the transcript comes from: auto (the file's text subtitles or a NAME.srt / NAME.vtt
# next to it when there are some, else speech recognition), asr, or subtitles (required).
TRANSCRIPT_ASR = "asr"
TRANSCRIPT_SUBTITLES = "subtitles"
TRANSCRIPT_SOURCES = (AUTO, TRANSCRIPT_ASR, TRANSCRIPT_SUBTITLES)
# Reading text on screen: auto (when an OCR backend is installed), on (required), off.
OCR_MODES = ("auto", "on", "off")
# What a frame's caption may be conditioned on: nothing, or the speech heard around it.
CAPTION_CONTEXT_MODES = ("none", "speech")
# Weights of the fast CPU captioner (onnx): "int8" (quantized linear layers) or "fp32" (exact).
CAPTION_PRECISIONS = ("int8", "fp32")
DEFAULT_CAPTION_PRECISION = "int8"
# Mean absolute difference of consecutive frames in HSV, 0-255 per channel, averaged over H, S
# and V: PySceneDetect's ContentDetector score and default. Hard cuts score 45-110 on the
# reference clips; fast motion and fades stay below 25; a static picture scores under 4.
DEFAULT_SCENE_THRESHOLD = 27.0
# Fraction of a picture that must have really changed (see ``changed_area``): 0.1 %. A new
# line of slide text scores 0.15-0.5 %, a talking head that keeps its place 0-0.06 % (one
# that moves around the frame 1-5 %), a new shot 5-90 %.
DEFAULT_DUPLICATE_THRESHOLD = 0.001
# Transcription guards against whisper's hallucinations on silence, music and noise.
# Send whisper only the stretches of audio with sound in them (transcription.silence).
DEFAULT_SILENCE_GATE = True
# Which detector finds the speech the gate lets through: "silero" (a neural VAD that tells
# speech from music and noise), "energy" (loudness: any sound), "off" (no gate), or "auto":
# silero when its model file (shipped inside faster-whisper) and onnxruntime are installed,
# else energy.
VAD_MODES = ("auto", "silero", "energy", "off")
DEFAULT_VAD = "auto"
# whisper's own thresholds and semantics (its CLI defaults); None disables a rule. A segment
# whose no-speech probability is above the first AND whose average log probability is below
# the second is silence; one whose gzip compression ratio is above the third is a repetition
# loop.
DEFAULT_NO_SPEECH_THRESHOLD = 0.6
DEFAULT_LOGPROB_THRESHOLD = -1.0
DEFAULT_COMPRESSION_RATIO_THRESHOLD = 2.4
# Seconds a decoding process may go without progress (a packet read, a frame decoded) before
# it is stopped: a damaged file can make FFmpeg scan forever.
DEFAULT_DECODE_TIMEOUT = 120.0
# Options that are secrets: never logged, written, shown or cached.
SECRETS = frozenset({"api_key"})
# The longest timeout taken: a day (a larger one overflows the clocks it is handed to).
MAX_TIMEOUT_S = 86400.0
# What each numeric option may be: (lowest, lowest itself excluded, highest); None: no bound.
# Every float option has a line here and must also be finite (no nan, no inf). The CLI, the
# config file, the environment and ``summarize()`` all come through these checks.
NUMBER_RANGES: dict[str, tuple[float | None, bool, float | None]] = {
    "interval": (0.0, True, None),
    "scene_threshold": (0.0, True, 255.0),
    "min_scene_gap": (0.0, False, None),
    "max_scene_gap": (0.0, True, None),
    "dedup_threshold": (0.0, False, 1.0),
    "max_fps": (0.0, False, None),
    "max_duration": (0.0, False, None),
    "decode_timeout": (0.0, False, MAX_TIMEOUT_S),
    "temperature": (0.0, False, None),
    "temperature_increment": (0.0, False, None),
    "no_speech_threshold": (0.0, False, 1.0),
    "logprob_threshold": (None, False, 0.0),
    "compression_ratio_threshold": (0.0, False, None),
    "timeout": (0.0, True, MAX_TIMEOUT_S),
    "max_pixels": (0, False, None),
}


# Where the cache (and the ledger, and converted models) live unless told otherwise.
CACHE_ENV = "SUMMARIZE_VIDEO_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$SUMMARIZE_VIDEO_CACHE_DIR``, else the platform's user cache folder."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "summarize-video"


def check_choice(value: str, choices: Sequence[str], what: str, *, stage: str = "options",
                 shown: object = None) -> None:
    """ConfigError ``unknown WHAT 'VALUE'`` naming the ``choices``, unless ``value`` is one of
    them (``shown``: what the error quotes, when ``value`` was normalised from it)."""
    if value not in choices:
        raise ConfigError(f"unknown {what} {value if shown is None else shown!r}",
                          stage=stage, hint=f"use one of {', '.join(choices)}")


# The options that take one of a few words: the words, and what the error calls the option.
_CHOICES: dict[str, tuple[tuple[str, ...], str]] = {
    "sampling": (SAMPLING_MODES, "sampling mode"),
    "caption_context": (CAPTION_CONTEXT_MODES, "caption context"),
    "transcript_source": (TRANSCRIPT_SOURCES, "transcript source"),
    "vad": (VAD_MODES, "VAD"),
    "ocr": (OCR_MODES, "--ocr value"),
    "caption_precision": (CAPTION_PRECISIONS, "caption precision"),
    "compute_type": (COMPUTE_TYPES, "compute type"),
}


@dataclass(frozen=True)
class Options:
    # Seconds between sampled frames.
    interval: float = 5.0
    # Captioning backend: a name in captioning.registry.CAPTIONERS, or "auto" (the best
    # installed for the device).
    captioner: str = AUTO
    # Hugging Face id or local directory of the captioning model (BLIP, Florence-2, SmolVLM...).
    caption_model: str = DEFAULT_CAPTION_MODEL
    # Allow caption models whose repository ships its own Python code (runs that code).
    trust_remote_code: bool = False
    # Frames captioned per forward pass.
    caption_batch_size: int = 4
    # Upper bound on tokens generated per caption (one sentence; generation stops at its end).
    caption_max_new_tokens: int = DEFAULT_CAPTION_MAX_NEW_TOKENS
    # "speech": chat VLMs also read the transcript around each frame; "none": the frame only.
    caption_context: str = "none"
    # Read on-screen text (slides, chyrons, hard subtitles) on the sampled frames into "read:"
    # lines: "auto" when an OCR backend is installed, "on" (an error without one), "off".
    ocr: str = "auto"
    # Precision of the onnx captioner: "int8" (fast) or "fp32" (the PyTorch backend's captions).
    caption_precision: str = DEFAULT_CAPTION_PRECISION
    # Longest side, in pixels, that sampled frames are downscaled to before captioning.
    frame_max_side: int = 768
    # How frames are chosen: "interval" (one every `interval` s) or "scene" (one per shot).
    sampling: str = "interval"
    # Scene mode: content change (mean HSV difference, 0-255) that counts as a cut.
    scene_threshold: float = DEFAULT_SCENE_THRESHOLD
    # Scene mode: fewest seconds between two sampled frames.
    min_scene_gap: float = 1.0
    # Scene mode: most seconds without a sampled frame (a long shot still gets frames).
    max_scene_gap: float = 30.0
    # Fraction of the picture that must change for a frame to be captioned; 0 keeps all.
    dedup_threshold: float = DEFAULT_DUPLICATE_THRESHOLD
    # CPU threads the model stages use in all, shared between captioning and transcription
    # while both run, the screen reader a third of captioning's share
    # (pipeline.concurrency.split_threads); None: every usable core.
    threads: int | None = None
    # Processes that decode parts of a long file in parallel; None picks from the cores.
    workers: int | None = None
    # Refuse a file whose header claims a picture of more pixels than this (width x height,
    # before any decoding); None or 0: no limit.
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    # Refuse a file whose header claims more frames per second than this; None or 0: no limit.
    max_fps: float | None = DEFAULT_MAX_FPS
    # Refuse a file whose header claims more seconds than this; None or 0: no limit.
    max_duration: float | None = None
    # Seconds decoding may go without progress before the file is abandoned as hung (its
    # decoding processes killed); None or 0: wait forever.
    decode_timeout: float | None = DEFAULT_DECODE_TIMEOUT
    # Where the transcript comes from (TRANSCRIPT_SOURCES): "auto" uses text subtitles (a
    # stream of the file, or NAME.srt / NAME.vtt / NAME.LANG.srt next to it) when there are
    # some, else speech recognition; "asr" always recognizes speech; "subtitles" requires them.
    transcript_source: str = AUTO
    # Transcription backend: a name in transcription.registry.TRANSCRIBERS, or "auto" (the
    # best installed for the device).
    transcriber: str = AUTO
    # Whisper model name (tiny, base, small, turbo...), a .pt checkpoint (openai-whisper) or a
    # CTranslate2 folder or hub id (faster-whisper); None: "turbo" on CUDA, "base" elsewhere.
    whisper_model: str | None = None
    # faster-whisper's CTranslate2 compute type (COMPUTE_TYPES); "auto" is int8 on the CPU
    # and float16 on CUDA. The openai-whisper backend ignores it.
    compute_type: str = AUTO
    # Whisper decoding temperature.
    temperature: float = 0.0
    # Temperature added on each fallback when decoding fails its checks; 0 disables fallback.
    temperature_increment: float = 0.2
    # Spoken language code (e.g. "en"); None lets whisper detect it.
    language: str | None = None
    # Transcribe only the stretches with sound (an energy gate); a silent track skips whisper.
    silence_gate: bool = DEFAULT_SILENCE_GATE
    # The gate's detector (VAD_MODES): silero, energy, off (same as no silence gate), or auto
    # (silero when its model file is installed, else energy).
    vad: str = DEFAULT_VAD
    # Whisper: no-speech probability above which a low-log-probability segment is silence.
    no_speech_threshold: float | None = DEFAULT_NO_SPEECH_THRESHOLD
    # Whisper: average log probability below which decoding failed (retry hotter, or silence).
    logprob_threshold: float | None = DEFAULT_LOGPROB_THRESHOLD
    # Whisper: gzip compression ratio above which text is a repetition loop (retry or drop).
    compression_ratio_threshold: float | None = DEFAULT_COMPRESSION_RATIO_THRESHOLD
    # Reasoning backend: "auto" (openai given a key or base URL, else transformers) or a name.
    reasoner: str = "auto"
    # Model name sent to the OpenAI-compatible server.
    llm_model: str = DEFAULT_LLM_MODEL
    # OpenAI-compatible server URL (Ollama, vLLM, LM Studio, llama.cpp); None means OpenAI.
    base_url: str | None = None
    # API key; None reads OPENAI_API_KEY. Never logged or written.
    api_key: str | None = field(default=None, repr=False)
    # Deadline in seconds for one whole LLM request (each attempt): a server trickling its
    # answer is abandoned then too, not only one that stops sending.
    timeout: float = 600.0
    # Retries of one LLM request after a connection error, timeout, 429 or 5xx (with backoff).
    llm_max_retries: int = 2
    # Output token budget of the LLM answer; None: 25,000 for OpenAI reasoning models, else
    # 4,096, at most half the context (at least 512) so that small contexts work.
    llm_max_output_tokens: int | None = None
    # Torch device: "auto" picks cuda, then mps, then cpu.
    device: str = "auto"
    # Folder the output files are written to.
    output_dir: Path = Path(".")
    # Output formats written per input.
    formats: tuple[str, ...] = DEFAULT_FORMATS
    # Keep a small JPEG of each captioned frame in the result, for the HTML report.
    thumbnails: bool = True
    # Folder with the user's own prompt files; missing files fall back to the shipped ones.
    prompts_dir: Path | None = None
    # Tokens one LLM request may use, prompt and answer; None picks from the model's name.
    context_tokens: int | None = None
    # A question that steers the summary ("What does she say about pricing?").
    focus: str | None = None
    # Build the LLM requests and report them with their token counts, but send nothing.
    dry_run: bool = False
    # TOML file of prices per million tokens that extends or overrides the shipped table.
    prices_file: Path | None = None
    # Skip the reasoning LLM: write captions and transcript only.
    no_llm: bool = False
    # Folder of the captions/transcript cache; None means $SUMMARIZE_VIDEO_CACHE_DIR or the
    # user cache folder.
    cache_dir: Path | None = None
    # Neither read nor write the cache.
    no_cache: bool = False
    # URL inputs: the largest download, in MB (10^6 bytes); None: no cap.
    max_download_mb: int | None = 4096

    def __post_init__(self) -> None:
        for name, bounds in NUMBER_RANGES.items():
            check_number(name, getattr(self, name), *bounds)
        for name, (choices, what) in _CHOICES.items():
            check_choice(getattr(self, name), choices, what)
        if self.threads is not None and self.threads < 1:
            raise ConfigError("threads must be at least 1", stage="options")
        if self.caption_batch_size < 1:
            raise ConfigError("caption batch size must be at least 1", stage="options")
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown or not self.formats:
            raise ConfigError(
                f"unknown output format {', '.join(unknown) or '(none)'}",
                stage="options",
                hint=f"use one or more of {', '.join(FORMATS)} or 'all'",
            )

    def replace(self, **changes: Any) -> Options:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_kwargs(cls, base: Options | None = None, **kwargs: Any) -> Options:
        """Build options from keyword arguments, with a clear error for unknown names."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(kwargs) - names)
        if unknown:
            raise ConfigError(f"unknown option(s): {', '.join(unknown)}", stage="options")
        if "formats" in kwargs:
            kwargs["formats"] = parse_formats(kwargs["formats"])
        if kwargs.get("output_dir") is not None:
            kwargs["output_dir"] = Path(kwargs["output_dir"])
        if kwargs.get("prices_file") is not None:
            kwargs["prices_file"] = Path(kwargs["prices_file"])
        if kwargs.get("cache_dir") is not None:
            kwargs["cache_dir"] = Path(kwargs["cache_dir"])
        if kwargs.get("prompts_dir") is not None:
            kwargs["prompts_dir"] = Path(kwargs["prompts_dir"])
        return dataclasses.replace(base or cls(), **kwargs)

    def settings(self) -> dict[str, Any]:
        """The result-changing settings, safe to write out (no secrets)."""
        return {
            "sampling": self.sampling,
            "interval_s": self.interval,
            "dedup_threshold": self.dedup_threshold,
            "caption_model": self.caption_model,
            "whisper_model": self.whisper_model,
            "llm_model": None if self.no_llm else self.llm_model,
            "base_url": None if self.no_llm or not self.base_url else redact_url(self.base_url),
            "language": self.language,
            "device": self.device,
        }


def check_number(name: str, value: Any, low: float | None, low_open: bool,
                 high: float | None) -> None:
    """Raise a ConfigError naming option ``name`` and its range unless ``value`` is None or a
    finite number in the range."""
    if value is None:
        return
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if (number and math.isfinite(value) and (low is None or value > low
                                             or (value == low and not low_open))
            and (high is None or value <= high)):
        return
    raise ConfigError(f"{name} must be {describe_range(low, low_open, high)}, got {value!r}",
                      stage="options")


def describe_range(low: float | None, low_open: bool, high: float | None) -> str:
    """``a finite number from 0 to 86400``, ``a finite number above 0``..."""
    if low is not None and high is not None:
        return (f"a finite number above {low:g} and at most {high:g}" if low_open
                else f"a finite number from {low:g} to {high:g}")
    if low is not None:
        return (f"a finite number above {low:g}" if low_open
                else f"a finite number of {low:g} or more")
    if high is not None:
        return f"a finite number of {high:g} or less"
    return "a finite number"


def parse_formats(value: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``"md,json"`` or ``"all"`` (or a sequence) to a tuple of format names."""
    items = value.split(",") if isinstance(value, str) else list(value)
    names = [i.strip().lower() for i in items if i.strip()]
    if "all" in names:
        return FORMATS
    return tuple(dict.fromkeys(names))

