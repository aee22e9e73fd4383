"""What shapes a result: the one place that says which options and prompt files change the
captions, the transcript and the summary.

The caption, transcript and screen-text cache keys (``caption_key``, ``transcript_key``,
``screen_key``), the run ledger's
settings fingerprint (``ledger_fingerprint``), the result's ``settings`` block
(``result_settings``) and the prompts the provenance block lists (``prompt_files``) are all
made here, from the tables below. Every ``Options`` field is in exactly one table; a test
checks that, and that changing a field changes the keys of its stage and nothing else, so a
new option cannot be left out silently.

Keys and fingerprints stay byte-for-byte what earlier versions wrote for the same settings,
so existing caches and ledgers keep their hits: a field added to a stage after the first
release is listed in ``LATER`` with its default, and left out of keys while it has that
default.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import prompting
from ..captioning.registry import resolve_captioner
from ..model_refs import model_id_of
from ..ocr.registry import resolve_reader
from ..options import Options
from ..reasoning.synthesis import PARTIAL
from ..redaction import redact_url
from ..transcription.registry import TRANSCRIBERS, resolve_transcriber

# Options that change the captions (and so everything after them).
CAPTION_FIELDS = ("captioner", "caption_model", "trust_remote_code", "caption_max_new_tokens",
                  "caption_context", "frame_max_side", "sampling", "dedup_threshold",
                  "caption_precision")
# ... in interval sampling only, and in scene sampling only.
INTERVAL_FIELDS = ("interval",)
SCENE_FIELDS = ("scene_threshold", "min_scene_gap", "max_scene_gap")
# Options that change the transcript.
TRANSCRIPT_FIELDS = ("transcriber", "whisper_model", "compute_type", "language", "temperature",
                     "temperature_increment", "silence_gate", "vad", "no_speech_threshold",
                     "logprob_threshold", "compression_ratio_threshold", "transcript_source")
# Options that change the text read on screen (and the frames it is read on: the caption
# table's frame-choosing options).
SCREEN_FIELDS = ("ocr",)
# Options that change the summary (the reasoning step), and the switch that turns it off.
SUMMARY_FIELDS = ("reasoner", "llm_model", "base_url", "focus", "context_tokens",
                  "llm_max_output_tokens", "no_llm")
# Options that change every model stage a little (floating point), recorded in the ledger's
# fingerprint but not in the cache keys: a cache filled on a GPU serves a CPU run.
RUN_FIELDS = ("device",)
# Options that shape no result, and why.
NOT_SHAPING: dict[str, str] = {
    "caption_batch_size": "how many frames share a forward pass, not what each caption says",
    "workers": "how many processes decode; the frames are the same",
    "threads": "how many CPU threads the model stages share, not what they make",
    "max_pixels": "a limit that refuses a file before anything is made",
    "max_fps": "a limit that refuses a file before anything is made",
    "max_duration": "a limit that refuses a file before anything is made",
    "decode_timeout": "when a hung decoder is abandoned; a finished decode is the same",
    "api_key": "a credential (never recorded anywhere)",
    "timeout": "how long a request may take, not what it answers",
    "llm_max_retries": "how often a failed request is retried",
    "output_dir": "where the outputs go (the ledger records them per file)",
    "formats": "which files are written (a missing one redoes the file on resume)",
    "thumbnails": "whether captions carry thumbnails (they are always cached)",
    "prompts_dir": "where prompts come from: their text is fingerprinted, not the folder",
    "dry_run": "nothing is made or recorded",
    "prices_file": "the cost estimate only",
    "cache_dir": "where the cache lives",
    "no_cache": "whether the cache is used",
    "max_download_mb": "a limit on URL downloads",
}
# Fields added to a stage after the first release, with the default under which they are left
# out of keys and fingerprints (so caches and ledgers written before keep their hits).
LATER: dict[str, object] = {"trust_remote_code": False, "compute_type": "auto",
                            "transcript_source": "auto", "vad": "auto", "ocr": "auto",
                            "caption_precision": "int8"}

# The result's ``settings`` block: the options named there, under the names shown.
_SETTINGS_NAMES = {"sampling": "sampling", "interval": "interval_s",
                   "dedup_threshold": "dedup_threshold", "caption_model": "caption_model",
                   "whisper_model": "whisper_model", "llm_model": "llm_model",
                   "base_url": "base_url", "language": "language", "device": "device"}


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Backends:
    """The backends a run resolved (or would resolve): what the options' names stand for."""

    # Registry names ("auto" resolved).
    captioner: str
    transcriber: str
    # Model ids the backends use; None: the options' (not resolved yet).
    caption_model: str | None = None
    whisper_model: str | None = None
    # The reasoner's model and backend, when there is one.
    llm_model: str | None = None
    llm_backend: str | None = None
    # The screen reader's registry name; None: no text is read (--ocr off, or auto without
    # a backend installed).
    reader: str | None = None

    @classmethod
    def of(cls, o: Options) -> Backends:
        """What the options name, before any backend is built."""
        return cls(captioner=resolve_captioner(o.captioner, o.device),
                   transcriber=resolve_transcriber(o.transcriber, o.device, o.whisper_model),
                   reader=resolve_reader(o.ocr, o.device))


def backend_name(backend: Any) -> str:
    """The registry name a backend was made under, else its class name (an object a caller
    passed in)."""
    return str(getattr(backend, "name", None) or type(backend).__name__)


def _later(params: dict[str, Any], o: Options, names: tuple[str, ...]) -> dict[str, Any]:
    """``params`` plus the ``LATER`` fields among ``names`` that differ from their default."""
    for name in names:
        if name in LATER and getattr(o, name) != LATER[name]:
            params[name] = getattr(o, name)
    return params


# --- cache keys -------------------------------------------------------------------------------


def _frame_choice(o: Options) -> dict[str, Any]:
    """The options that choose the frames captions and screen text are made from (their keys
    in the order the caption key has always had them; scene or interval last)."""
    choice: dict[str, Any] = {"max_side": o.frame_max_side, "sampling": o.sampling,
                              "dedup": o.dedup_threshold}
    if o.sampling == "scene":
        choice["scene"] = [getattr(o, name) for name in SCENE_FIELDS]
    else:
        choice["interval"] = o.interval
    return choice


def caption_key(o: Options, captioner: Any, prompt: str, context_prompt: str,
                transcript: dict[str, Any] | None) -> dict[str, Any]:
    """Everything that changes the captions of a file: the captioner as built (its name,
    resolved model id and revision), its prompts and the frame-choosing options."""
    params: dict[str, Any] = {
        "captioner": backend_name(captioner),
        "model": model_id_of(captioner),
        "revision": getattr(captioner, "revision", None),
        "prompt": text_hash(prompt),
        "max_new_tokens": o.caption_max_new_tokens,
        **_frame_choice(o),
        "context": o.caption_context,
    }
    if o.caption_context == "speech":
        params.update(context_prompt=text_hash(context_prompt), transcript=transcript)
    return _later(params, o, CAPTION_FIELDS)


def transcript_key(o: Options, transcriber: Any) -> dict[str, Any]:
    """Everything that changes the transcript of a file: the transcriber as built and the
    decoding and guard options. The gate's detector is the one the transcriber resolved
    (``auto`` is silero or energy): named when it is silero; energy, the only detector before,
    keeps the keys earlier versions wrote, and ``off`` is a gate switched off."""
    vad = getattr(transcriber, "vad_name", None) or (o.vad if o.silence_gate else "off")
    params: dict[str, Any] = {
        "transcriber": backend_name(transcriber),
        "model": model_id_of(transcriber),
        "language": o.language,
        "temperature": [o.temperature, o.temperature_increment],
        "guards": [o.silence_gate and vad != "off", o.no_speech_threshold, o.logprob_threshold,
                   o.compression_ratio_threshold],
        # Audio longer than this is transcribed in pieces (cut in silences).
        "chunk_s": getattr(transcriber, "chunk_s", None),
    }
    params = _later(params, o, TRANSCRIPT_FIELDS)
    params.pop("vad", None)
    if vad not in ("energy", "off"):
        params["vad"] = vad
    # The numeric precision the backend runs at, where it has a choice (faster-whisper's
    # compute type, "auto" resolved for the device); a backend without one ignores the option.
    engine = getattr(transcriber, "backend", transcriber)
    compute_type = getattr(engine, "compute_type", None)
    if compute_type is not None:
        params["compute_type"] = compute_type
    else:
        params.pop("compute_type", None)
    return params


def screen_key(o: Options, reader: Any) -> dict[str, Any]:
    """Everything that changes the text read on a file's frames: the reader as built and the
    frame-choosing options."""
    return {
        "reader": backend_name(reader),
        "model": reader.model_id,
        "min_score": getattr(reader, "min_score", None),
        **_frame_choice(o),
    }


# --- the result's settings, the ledger, provenance --------------------------------------------


def result_settings(o: Options, backends: Backends | None = None) -> dict[str, Any]:
    """The result's ``settings`` block: the result-changing settings, safe to write out (no
    secrets), with the models the backends resolved where they are known."""
    b = backends
    values: dict[str, Any] = {name: getattr(o, name) for name in _SETTINGS_NAMES}
    values["llm_model"] = None if o.no_llm else o.llm_model
    values["base_url"] = None if o.no_llm or not o.base_url else redact_url(o.base_url)
    if b is not None:
        values["caption_model"] = b.caption_model or o.caption_model
        values["whisper_model"] = b.whisper_model or o.whisper_model
    settings = {_SETTINGS_NAMES[name]: value for name, value in values.items()}
    if b is not None and b.llm_model is not None:
        settings.update(llm_model=b.llm_model, llm_backend=b.llm_backend)
    return settings


def prompt_files(o: Options, *, captions: bool = True, summary: bool | None = None,
                 windows: int | None = None, screen: bool | None = None) -> list[str]:
    """The prompt files that shape a result: the caption prompts when frames are captioned,
    the reasoning prompts when there is a summary (``summary``; default: unless ``no_llm``),
    the partial-summary prompt only when ``windows`` > 1 (None: it may be, so it counts), the
    screen-text prompt when text is read (``screen``; default: with ``--ocr on``, so that the
    ledgers of runs at the default ``auto`` keep their earlier fingerprints)."""
    names = []
    if captions:
        names.append(prompting.CAPTION)
        if o.caption_context == "speech":
            names.append(prompting.CAPTION_CONTEXT)
    if summary if summary is not None else not o.no_llm:
        names += [prompting.SYSTEM, prompting.SUMMARY]
        if windows is None or windows > 1:
            names.append(PARTIAL)
        if screen if screen is not None else o.ocr == "on":
            names.append(prompting.SCREEN)
    return names


def ledger_fingerprint(o: Options, backends: Backends | None = None) -> str:
    """A digest of everything that shapes a result: the settings block, every other
    result-shaping option of the stages that run, and the text of the prompts in use."""
    b = backends or Backends.of(o)
    names = [*CAPTION_FIELDS, *TRANSCRIPT_FIELDS, *SCREEN_FIELDS]
    if o.sampling == "scene":
        names += SCENE_FIELDS
    if not o.no_llm:
        names += [n for n in SUMMARY_FIELDS if n != "no_llm"]
    resolved = {"captioner": b.captioner, "transcriber": b.transcriber}
    # Options the resolved transcriber reads beyond the shared ones are always named.
    own = set(getattr(TRANSCRIBERS.get(b.transcriber), "option_fields", ()))
    options = {name: resolved.get(name, getattr(o, name)) for name in sorted(names)
               if name not in _SETTINGS_NAMES
               and not (name in LATER and getattr(o, name) == LATER[name]
                        and name not in _FIRST_LEDGER and name not in own)}
    blob = {
        "settings": result_settings(o, backends),
        "options": options,
        "prompts": {name: prompting.prompt_hash(name, o.prompts_dir)
                    for name in prompt_files(o)},
    }
    text = json.dumps(blob, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


# LATER fields that the first ledgers already fingerprinted (always kept there).
_FIRST_LEDGER = frozenset({"trust_remote_code"})


def prompt_record(name: str, prompts_dir: Path | None) -> dict[str, str]:
    """A prompt's hash and whether it came from the user's folder or the package."""
    own = prompts_dir is not None and (Path(prompts_dir) / name).is_file()
    return {"sha256_16": prompting.prompt_hash(name, prompts_dir),
            "from": "prompts_dir" if own else "shipped"}
