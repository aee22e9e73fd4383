"""Speech to timestamped text: a small backend protocol and the openai-whisper backend.

Against whisper's hallucinations on silence, music and noise: a silence gate (only the
stretches with sound are transcribed, see ``silence``), whisper's own no-speech, log-probability
and compression-ratio thresholds, and the same rules applied again per output segment plus a
stock-phrase filter (see ``guards``).

torch and whisper are imported inside methods only, so importing this module stays cheap.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import ConfigError, ModelLoadError, TranscribeError
from ..media.audio import WHISPER_SAMPLE_RATE, AudioClip
from ..options import (
    DEFAULT_COMPRESSION_RATIO_THRESHOLD,
    DEFAULT_LOGPROB_THRESHOLD,
    DEFAULT_NO_SPEECH_THRESHOLD,
    DEFAULT_SILENCE_GATE,
    DEFAULT_WHISPER_MODEL_CPU,
    DEFAULT_WHISPER_MODEL_CUDA,
)
from .cutting import DEFAULT_PIECE_S, MAX_CARRY_S, SpeechBatch, pieces, split_clip
from .guards import filter_segments
from .silence import Splice, speech_regions, splice

log = logging.getLogger(__name__)

MODEL_HINT = "a whisper model name like base/small/turbo or a .pt path; first runs download it"
# Transcript.flags: the audio has no sound above the silence gate (whisper was not run) ...
FLAG_NO_SPEECH = "no-speech"
# ... or it has sound, but whisper found no confident speech in it.
FLAG_MUSIC_OR_NOISE = "music-or-noise"
# Seconds of digital silence put between speech regions when they are joined for whisper: a
# pause, so that whisper ends a segment before the jump in time.
REGION_GAP = 0.5


@dataclass(frozen=True)
class Segment:
    # Seconds on the video's timeline (the audio offset already added).
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcript:
    segments: tuple[Segment, ...]
    # Language code whisper used or detected ("en", "de"...); None when nothing was transcribed.
    language: str | None
    # Segments whisper returned that the guards dropped (silence, repetition, stock phrases).
    dropped: int = 0
    # Why the transcript is empty, when it is: FLAG_NO_SPEECH or FLAG_MUSIC_OR_NOISE.
    flags: tuple[str, ...] = ()
    # True when whisper detected ``language`` itself (none was given, multilingual model).
    language_detected: bool = False

    @classmethod
    def empty(cls) -> Transcript:
        return cls(segments=(), language=None)

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments)


class Transcriber(Protocol):
    """Turns an ``AudioClip`` into a ``Transcript`` whose times are on the video's timeline.

    A backend may also offer ``transcribe_stream(chunks: Iterable[AudioClip]) -> Transcript``
    and a ``chunk_s`` attribute: the pipeline then feeds it the audio piece by piece.
    """

    @property
    def model_id(self) -> str: ...

    def transcribe(self, audio: AudioClip) -> Transcript: ...


def temperature_schedule(temperature: float, increment: float) -> tuple[float, ...]:
    """The temperatures whisper tries in turn, built like whisper's own CLI."""
    if increment > 0:
        temps = tuple(float(t) for t in np.arange(temperature, 1.0 + 1e-6, increment))
        return temps or (temperature,)
    return (temperature,)


def _looks_like_path(model: str) -> bool:
    return model.endswith((".pt", ".pth")) or os.sep in model or "/" in model


class WhisperTranscriber:
    """openai-whisper, loaded once per instance on first use (or by ``load()``)."""

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        device: str = "auto",
        language: str | None = None,
        temperature: float = 0.0,
        temperature_increment: float = 0.2,
        download_root: str | None = None,
        silence_gate: bool = DEFAULT_SILENCE_GATE,
        no_speech_threshold: float | None = DEFAULT_NO_SPEECH_THRESHOLD,
        logprob_threshold: float | None = DEFAULT_LOGPROB_THRESHOLD,
        compression_ratio_threshold: float | None = DEFAULT_COMPRESSION_RATIO_THRESHOLD,
        chunk_s: float = DEFAULT_PIECE_S,
    ) -> None:
        if temperature < 0 or temperature_increment < 0:
            raise ConfigError(
                "whisper temperature and temperature increment must not be negative",
                stage="options",
                hint="use e.g. --temperature 0 --temperature-increment 0.2",
            )
        if no_speech_threshold is not None and not 0.0 <= no_speech_threshold <= 1.0:
            raise ConfigError(f"no-speech threshold must be within 0-1, got {no_speech_threshold}",
                              stage="options", hint="whisper's default is 0.6")
        if compression_ratio_threshold is not None and not compression_ratio_threshold > 0:
            raise ConfigError("compression ratio threshold must be positive, got "
                              f"{compression_ratio_threshold}", stage="options",
                              hint="whisper's default is 2.4")
        if not chunk_s > 0:
            raise ConfigError(f"the audio chunk length must be positive, got {chunk_s}",
                              stage="options", hint=f"the default is {DEFAULT_PIECE_S:g} s")
        self._model_arg = os.fspath(model) if model is not None else None
        self._device_arg = device
        self._language_arg = language or None
        self.temperature = temperature
        self.temperature_increment = temperature_increment
        self.download_root = download_root
        self.silence_gate = silence_gate
        self.no_speech_threshold = no_speech_threshold
        self.logprob_threshold = logprob_threshold
        self.compression_ratio_threshold = compression_ratio_threshold
        # Seconds decoded at a time, and of gated speech per whisper run: bounds the memory.
        self.chunk_s = chunk_s
        self._device: str | None = None
        self._model_id: str | None = None
        self._language: str | None = None
        self._model: Any = None

    # Resolution is lazy: "auto" needs torch to know whether CUDA is there.
    def _resolve(self) -> None:
        if self._model_id is not None:
            return
        from ..devices import resolve_device

        resolved = resolve_device(self._device_arg)
        # whisper on MPS is unreliable (sparse alignment heads, fp16 paths): use the CPU there.
        self._device = resolved if resolved.startswith("cuda") else "cpu"
        if self._model_arg is None:
            cuda = self._device.startswith("cuda")
            self._model_id = DEFAULT_WHISPER_MODEL_CUDA if cuda else DEFAULT_WHISPER_MODEL_CPU
        else:
            self._model_id = self._model_arg

    @property
    def model_id(self) -> str:
        """The whisper model name or checkpoint path (``None`` resolved per device)."""
        self._resolve()
        assert self._model_id is not None
        return self._model_id

    @property
    def device(self) -> str:
        """``cuda`` (or ``cuda:N``) when the resolved device is a CUDA GPU, else ``cpu``."""
        self._resolve()
        assert self._device is not None
        return self._device

    @property
    def is_loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        """Load the model now (idempotent); raises ``ModelLoadError`` naming the model."""
        if self._model is not None:
            return
        model_id, device = self.model_id, self.device
        try:
            import whisper
        except ImportError as exc:  # pragma: no cover - a dependency of the package
            raise ModelLoadError(f"cannot import whisper: {exc}", path=model_id,
                                 hint="pip install openai-whisper") from exc
        self._language = _normalise_language(self._language_arg)
        name = model_id
        if name not in whisper.available_models() and _looks_like_path(name):
            checkpoint = Path(name).expanduser()
            if not checkpoint.is_file():
                raise ModelLoadError(f"whisper checkpoint {name!r} not found", path=name,
                                     hint=MODEL_HINT)
            name = str(checkpoint)
        started = time.perf_counter()
        log.info("loading whisper model %s on %s", model_id, device)
        try:
            model = whisper.load_model(name, device=device, download_root=self.download_root)
        except Exception as exc:
            raise ModelLoadError(
                f"cannot load whisper model {model_id!r}: {_reason(exc)}",
                path=model_id,
                hint=MODEL_HINT,
            ) from exc
        if not model.is_multilingual and self._language not in (None, "en"):
            log.warning("%s is an English-only model; ignoring language %r",
                        model_id, self._language)
            self._language = "en"
        self._model = model
        log.info("whisper model %s loaded in %.1f s", model_id, time.perf_counter() - started)

    def transcribe(self, audio: AudioClip) -> Transcript:
        """Transcribe ``audio``; segment times are on the clip's timeline plus its offset.

        With the silence gate on, only the regions ``speech_regions`` finds are sent to whisper
        (joined with ``REGION_GAP`` s of silence; times are mapped back exactly), and a clip
        without any returns a transcript flagged ``no-speech`` without loading the model. A
        clip longer than ``chunk_s`` is cut into chunks of that length (views of its samples)
        for ``transcribe_stream``, so whisper's memory does not grow with the clip.
        """
        return self.transcribe_stream(split_clip(audio, self.chunk_s))

    def transcribe_stream(self, chunks: Iterable[AudioClip]) -> Transcript:
        """Transcribe consecutive ``chunks`` (``iter_audio``'s) in bounded pieces, in order.

        The cuts are moved into silences (``cutting.pieces``: what follows the last silence of
        a chunk is carried into the next). The gated speech of consecutive pieces is joined
        into whisper runs of at most ``chunk_s`` seconds (one piece may run longer, by its
        carry). One chunk is transcribed exactly as ``transcribe`` always did. Unless a
        language was given, the one whisper detects in the first run with speech is passed to
        the later runs. ``no-speech`` is flagged only when no piece had sound,
        ``music-or-noise`` when some had but no segment came out.
        """
        parts: list[Transcript] = []
        language: str | None = None
        batch = SpeechBatch(WHISPER_SAMPLE_RATE, REGION_GAP)
        heard = 0.0

        def run(samples: np.ndarray, spliced: Splice | None, offset: float, sound: bool) -> None:
            nonlocal language
            part = self._whisper(samples, spliced, offset, sound, language)
            parts.append(part)
            if language is None and part.segments:
                language = part.language

        for piece in pieces(chunks, max_carry=MAX_CARRY_S):
            samples, regions = self._checked(piece)
            heard += piece.duration
            if not self.silence_gate:
                run(samples, None, piece.offset, bool(regions))
            elif not regions:
                log.debug("no sound above the silence gate in %.1f s of audio", piece.duration)
                parts.append(Transcript(segments=(), language=None, flags=(FLAG_NO_SPEECH,)))
            else:
                joined, spliced = splice(samples, WHISPER_SAMPLE_RATE, regions, gap=REGION_GAP)
                if not batch.fits(joined, self.chunk_s):
                    run(*batch.take(), True)
                batch.add(joined, spliced, piece.offset, piece.duration)
        if batch:
            run(*batch.take(), True)
        transcript = _merge(parts)
        log.info("transcribed %.1f s of audio (%d whisper run(s)): %d segments (%d dropped by the "
                 "guards), language %s%s", heard, sum(1 for p in parts if p.language),
                 len(transcript.segments), transcript.dropped, transcript.language,
                 f", flagged {', '.join(transcript.flags)}" if transcript.flags else "")
        return transcript

    def _checked(self, audio: AudioClip) -> tuple[np.ndarray, list[tuple[float, float]]]:
        """The samples of a non-empty 16 kHz ``audio`` and the regions with sound in them."""
        if audio.sample_rate != WHISPER_SAMPLE_RATE:
            raise TranscribeError(
                f"whisper needs 16000 Hz audio, got {audio.sample_rate} Hz",
                hint="decode with load_audio(path, sample_rate=16000)",
            )
        samples = np.ascontiguousarray(audio.samples, dtype=np.float32).reshape(-1)
        return samples, speech_regions(samples, audio.sample_rate)

    def _whisper(self, samples: np.ndarray, spliced: Splice | None, offset: float, sound: bool,
                 language: str | None) -> Transcript:
        """One whisper run on ``samples`` (joined regions when ``spliced``), starting at
        ``offset`` on the timeline; ``sound``: whether the gate found any; ``language``
        unless the user gave one."""
        rate = WHISPER_SAMPLE_RATE
        if spliced is not None:
            log.debug("silence gate: %d region(s), %.1f s sent to whisper",
                      len(spliced.regions), sum(e - s for s, e in spliced.regions))
        self.load()
        result = self._run_whisper(samples, self._language or language)
        spoken = [raw for raw in result.get("segments") or () if str(raw.get("text", "")).strip()]
        kept, dropped = filter_segments(
            spoken, no_speech_threshold=self.no_speech_threshold,
            logprob_threshold=self.logprob_threshold,
            compression_ratio_threshold=self.compression_ratio_threshold,
        )
        heard = samples.size / rate
        segments = []
        for raw in kept:
            # Clamp: a window without closing timestamp is given the window's full length.
            start = min(max(float(raw.get("start", 0.0)), 0.0), heard)
            end = min(max(float(raw.get("end", start)), start), heard)
            if spliced is not None:
                start = spliced.to_original(start)
                end = max(start, spliced.to_original(end, is_end=True))
            segments.append(Segment(start=round(start + offset, 3), end=round(end + offset, 3),
                                    text=str(raw["text"]).strip()))
        flags: tuple[str, ...] = ()
        if not segments:
            flags = (FLAG_MUSIC_OR_NOISE,) if sound else (FLAG_NO_SPEECH,)
        detected = self._language is None and bool(getattr(self._model, "is_multilingual", True))
        return Transcript(segments=tuple(segments),
                          language=result.get("language") or self._language or language,
                          dropped=dropped, flags=flags, language_detected=detected)

    def _run_whisper(self, samples: np.ndarray, language: str | None) -> dict[str, Any]:
        duration = samples.size / WHISPER_SAMPLE_RATE
        started = time.perf_counter()
        try:
            result = self._model.transcribe(
                samples,
                language=language,
                fp16=self.device.startswith("cuda"),
                condition_on_previous_text=False,
                temperature=temperature_schedule(self.temperature, self.temperature_increment),
                no_speech_threshold=self.no_speech_threshold,
                logprob_threshold=self.logprob_threshold,
                compression_ratio_threshold=self.compression_ratio_threshold,
                verbose=None,
            )
        except Exception as exc:
            raise TranscribeError(
                f"whisper failed on {duration:.1f} s of audio: {_reason(exc)}",
                hint="out of memory? try a smaller --whisper-model or --device cpu",
            ) from exc
        log.info("whisper ran on %.1f s of audio in %.1f s", duration,
                 time.perf_counter() - started)
        return result


def _merge(parts: list[Transcript]) -> Transcript:
    """The transcripts of consecutive pieces as one (one piece: the same transcript)."""
    segments = tuple(s for part in parts for s in part.segments)
    flags: tuple[str, ...] = ()
    if not segments:
        if any(FLAG_MUSIC_OR_NOISE in part.flags for part in parts):
            flags = (FLAG_MUSIC_OR_NOISE,)
        elif any(part.flags for part in parts):
            flags = (FLAG_NO_SPEECH,)
    languages = [part.language for part in parts if part.segments] or [
        part.language for part in parts]
    return Transcript(
        segments=segments,
        language=next((lang for lang in languages if lang), None),
        dropped=sum(part.dropped for part in parts),
        flags=flags,
        language_detected=any(part.language_detected for part in parts),
    )


def _normalise_language(language: str | None) -> str | None:
    """``"English"``/``"EN"`` -> ``"en"``; ConfigError for a language whisper does not know."""
    if not language:
        return None
    from whisper.tokenizer import LANGUAGES, TO_LANGUAGE_CODE

    code = language.strip().lower()
    if code in LANGUAGES:
        return code
    if code in TO_LANGUAGE_CODE:
        return TO_LANGUAGE_CODE[code]
    raise ConfigError(f"whisper does not know the language {language!r}", stage="options",
                      hint="use a code like en, de, fr, ja or leave it unset to detect it")


def _reason(exc: BaseException) -> str:
    return " ".join((str(exc) or type(exc).__name__).split())


TRANSCRIBERS: dict[str, type[WhisperTranscriber]] = {"whisper": WhisperTranscriber}


def create_transcriber(name: str, **kwargs: Any) -> Transcriber:
    """Build the transcription backend registered as ``name`` (ConfigError if unknown)."""
    try:
        cls = TRANSCRIBERS[name.strip().lower()]
    except (KeyError, AttributeError):
        raise ConfigError(f"unknown transcriber {name!r}",
                          hint=f"known transcribers: {', '.join(sorted(TRANSCRIBERS))}") from None
    return cls(**kwargs)
