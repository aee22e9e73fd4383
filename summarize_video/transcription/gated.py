"""The transcription loop around any backend: silence gate, cuts in pauses, guards.

Against hallucinations on silence, music and noise: a silence gate (only the stretches with
sound reach the backend, see ``silence``), the backend's own statistics checked per segment,
and a stock-phrase filter (see ``guards``). Long audio is cut into bounded pieces in its
pauses (``cutting``), so memory does not grow with the file, and the language detected in the
first run with speech is passed to the later ones.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..errors import ConfigError, TranscribeError
from ..media.audio import WHISPER_SAMPLE_RATE, AudioClip
from ..options import (
    DEFAULT_COMPRESSION_RATIO_THRESHOLD,
    DEFAULT_LOGPROB_THRESHOLD,
    DEFAULT_NO_SPEECH_THRESHOLD,
    DEFAULT_SILENCE_GATE,
    DEFAULT_VAD,
    Options,
)
from .base import (
    FLAG_MUSIC_OR_NOISE,
    FLAG_NO_SPEECH,
    Recognized,
    Segment,
    SpeechBackend,
    Transcript,
)
from .cutting import DEFAULT_PIECE_S, MAX_CARRY_S, SpeechBatch, pieces, split_clip
from .guards import filter_segments
from .silence import Splice, speech_regions, splice
from .vad import Vad, resolve_vad, vad_name

log = logging.getLogger(__name__)

# Seconds of digital silence put between speech regions when they are joined for the backend:
# a pause, so that it ends a segment before the jump in time.
REGION_GAP = 0.5


class GatedTranscriber:
    """A ``Transcriber`` made of a ``SpeechBackend`` and the gate, cutting and guards.

    ``name``: the backend's registry name (what cache keys and provenance record).
    ``vad``: the detector of the gate (``vad.VAD_MODES``, resolved here: ``auto`` becomes
    silero or energy); ``silence_gate=False`` is ``vad="off"``.
    """

    def __init__(
        self,
        backend: SpeechBackend,
        *,
        name: str | None = None,
        silence_gate: bool = DEFAULT_SILENCE_GATE,
        vad: str = DEFAULT_VAD,
        no_speech_threshold: float | None = DEFAULT_NO_SPEECH_THRESHOLD,
        logprob_threshold: float | None = DEFAULT_LOGPROB_THRESHOLD,
        compression_ratio_threshold: float | None = DEFAULT_COMPRESSION_RATIO_THRESHOLD,
        chunk_s: float = DEFAULT_PIECE_S,
    ) -> None:
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
        self.backend = backend
        self.name = name or getattr(backend, "name", None) or type(backend).__name__
        # The detector that finds the speech (None: no gate) and its name, as provenance and
        # the cache keys record it.
        self.vad: Vad | None = resolve_vad(vad) if silence_gate else None
        self.vad_name = vad_name(self.vad)
        self.silence_gate = self.vad is not None
        self.no_speech_threshold = no_speech_threshold
        self.logprob_threshold = logprob_threshold
        self.compression_ratio_threshold = compression_ratio_threshold
        # Seconds decoded at a time, and of gated speech per backend run: bounds the memory.
        self.chunk_s = chunk_s

    @classmethod
    def around(cls, backend: SpeechBackend, options: Options, name: str | None = None
               ) -> GatedTranscriber:
        """``backend`` gated and guarded as ``options`` say."""
        return cls(backend, name=name, silence_gate=options.silence_gate, vad=options.vad,
                   no_speech_threshold=options.no_speech_threshold,
                   logprob_threshold=options.logprob_threshold,
                   compression_ratio_threshold=options.compression_ratio_threshold)

    def __repr__(self) -> str:
        return f"GatedTranscriber({self.backend!r})"

    @property
    def modules(self) -> tuple[str, ...]:
        """What the backend's loading imports (``pipeline.concurrency.import_first``)."""
        return tuple(getattr(self.backend, "modules", ()))

    @property
    def model_id(self) -> str:
        return str(self.backend.model_id)

    @property
    def device(self) -> str | None:
        return getattr(self.backend, "device", None)

    @property
    def revision(self) -> str | None:
        return getattr(self.backend, "revision", None)

    @property
    def is_loaded(self) -> bool:
        return bool(getattr(self.backend, "is_loaded", True))

    def load(self) -> None:
        """Load the backend's model now (when it has a ``load``): fail fast."""
        load = getattr(self.backend, "load", None)
        if load is not None:
            load()

    def transcribe(self, audio: AudioClip) -> Transcript:
        """Transcribe ``audio``; segment times are on the clip's timeline plus its offset.

        With the silence gate on, only the regions the VAD (``self.vad``) finds are sent to the
        backend (joined with ``REGION_GAP`` s of silence; times are mapped back exactly), and a
        clip without any returns a transcript flagged ``no-speech`` without loading the model.
        A clip longer than ``chunk_s`` is cut into chunks of that length (views of its
        samples) for ``transcribe_stream``, so memory does not grow with the clip.
        """
        return self.transcribe_stream(split_clip(audio, self.chunk_s))

    def transcribe_stream(self, chunks: Iterable[AudioClip]) -> Transcript:
        """Transcribe consecutive ``chunks`` (``iter_audio``'s) in bounded pieces, in order.

        The cuts are moved into silences (``cutting.pieces``: what follows the last silence of
        a chunk is carried into the next). The gated speech of consecutive pieces is joined
        into backend runs of at most ``chunk_s`` seconds (one piece may run longer, by its
        carry). Unless the user gave a language, the one detected in the first run with speech
        is passed to the later runs. ``no-speech`` is flagged only when no piece had sound,
        ``music-or-noise`` when some had but no segment came out.
        """
        parts: list[Transcript] = []
        language: str | None = None
        batch = SpeechBatch(WHISPER_SAMPLE_RATE, REGION_GAP)
        heard = 0.0

        def run(samples: np.ndarray, spliced: Splice | None, offset: float, sound: bool) -> None:
            nonlocal language
            part = self._run(samples, spliced, offset, sound, language)
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
        transcript = merge_parts(parts)
        log.info("transcribed %.1f s of audio (%d %s run(s)): %d segments (%d dropped by the "
                 "guards), language %s%s", heard, sum(1 for p in parts if p.language),
                 self.name, len(transcript.segments), transcript.dropped, transcript.language,
                 f", flagged {', '.join(transcript.flags)}" if transcript.flags else "")
        return transcript

    def _checked(self, audio: AudioClip) -> tuple[np.ndarray, list[tuple[float, float]]]:
        """The samples of a non-empty 16 kHz ``audio`` and the regions the VAD finds in them
        (the energy gate's, without a VAD)."""
        if audio.sample_rate != WHISPER_SAMPLE_RATE:
            raise TranscribeError(
                f"transcription needs 16000 Hz audio, got {audio.sample_rate} Hz",
                hint="decode with load_audio(path, sample_rate=16000)",
            )
        samples = np.ascontiguousarray(audio.samples, dtype=np.float32).reshape(-1)
        if self.vad is None:  # no gate: the loudness regions only tell silence from sound
            return samples, speech_regions(samples, audio.sample_rate)
        return samples, self.vad.regions(samples, audio.sample_rate)

    def _run(self, samples: np.ndarray, spliced: Splice | None, offset: float, sound: bool,
             language: str | None) -> Transcript:
        """One backend run on ``samples`` (joined regions when ``spliced``), starting at
        ``offset`` on the timeline; ``sound``: whether the gate found any; ``language``: the
        one detected earlier, if any."""
        if spliced is not None:
            log.debug("%s gate: %d region(s), %.1f s sent to %s", self.vad_name,
                      len(spliced.regions), sum(e - s for s, e in spliced.regions), self.name)
        started = time.perf_counter()
        found: Recognized = self.backend.transcribe(samples, language)
        log.info("%s ran on %.1f s of audio in %.1f s", self.name,
                 samples.size / WHISPER_SAMPLE_RATE, time.perf_counter() - started)
        heard = samples.size / WHISPER_SAMPLE_RATE
        spoken = [raw for raw in found.segments if str(raw.get("text", "")).strip()]
        placed = [self._placed(dict(raw), heard, spliced, offset) for raw in spoken]
        # The guards see the segments on the file's timeline (what the gate cut is distance).
        timed = [{**raw, "start": seg.start, "end": seg.end}
                 for raw, seg in zip(spoken, placed, strict=True)]
        kept, dropped = filter_segments(
            timed, no_speech_threshold=self.no_speech_threshold,
            logprob_threshold=self.logprob_threshold,
            compression_ratio_threshold=self.compression_ratio_threshold,
        )
        kept_ids = {id(raw) for raw in kept}
        segments = [seg for raw, seg in zip(timed, placed, strict=True) if id(raw) in kept_ids]
        flags: tuple[str, ...] = ()
        if not segments:
            flags = (FLAG_MUSIC_OR_NOISE,) if sound else (FLAG_NO_SPEECH,)
        return Transcript(segments=tuple(segments), language=found.language or language,
                          dropped=dropped, flags=flags,
                          language_detected=found.language_detected)

    @staticmethod
    def _placed(raw: dict[str, Any], heard: float, spliced: Splice | None, offset: float
                ) -> Segment:
        """A raw segment on the video's timeline. Clamped: a window without a closing
        timestamp is given the window's full length, and an end never runs past the speech
        region the segment starts in (across a stretch the gate cut out)."""
        start = min(max(float(raw.get("start", 0.0)), 0.0), heard)
        end = min(max(float(raw.get("end", start)), start), heard)
        if spliced is not None:
            region_end = spliced.region_end(start)
            start = spliced.to_original(start)
            end = max(start, min(spliced.to_original(end, is_end=True), region_end))
        return Segment(start=round(start + offset, 3), end=round(end + offset, 3),
                       text=str(raw["text"]).strip())


def merge_parts(parts: list[Transcript]) -> Transcript:
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
