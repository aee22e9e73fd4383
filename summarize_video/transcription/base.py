"""What every transcription backend shares: segments, transcripts and the two protocols.

A ``Transcriber`` turns an ``AudioClip`` into a ``Transcript`` on the video's timeline; the
pipeline calls it. A ``SpeechBackend`` is the small thing a new engine implements: 16 kHz mono
float32 samples in, raw segments out. ``gated.GatedTranscriber`` wraps any backend in the
silence gate, the cutting of long audio in pauses and the hallucination guards, so a backend
never deals with them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypedDict, runtime_checkable

from ..model_refs import ClassNameModelId

if TYPE_CHECKING:
    import numpy as np

    from ..media.audio import AudioClip
    from ..options import Options

# Transcript.flags: the audio has no sound above the silence gate (no backend was run) ...
FLAG_NO_SPEECH = "no-speech"
# ... or it has sound, but the backend found no confident speech in it.
FLAG_MUSIC_OR_NOISE = "music-or-noise"


@dataclass(frozen=True)
class Segment:
    # Seconds on the video's timeline (the audio offset already added).
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcript:
    segments: tuple[Segment, ...]
    # Language code used or detected ("en", "de"...); None when nothing was transcribed.
    language: str | None
    # Segments the backend returned that the guards dropped (silence, repetition, phrases).
    dropped: int = 0
    # Why the transcript is empty, when it is: FLAG_NO_SPEECH or FLAG_MUSIC_OR_NOISE.
    flags: tuple[str, ...] = ()
    # True when the backend detected ``language`` itself (none was given).
    language_detected: bool = False

    @classmethod
    def empty(cls) -> Transcript:
        return cls(segments=(), language=None)

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments)


@runtime_checkable
class Transcriber(Protocol):
    """Turns an ``AudioClip`` into a ``Transcript`` whose times are on the video's timeline.

    A transcriber may also offer ``transcribe_stream(chunks: Iterable[AudioClip]) ->
    Transcript`` and a ``chunk_s`` attribute: the pipeline then feeds it the audio piece by
    piece (``GatedTranscriber`` does). ``model_id`` names the model in cache keys and
    provenance; a subclass that sets none gets its class name.
    """

    model_id: str = ClassNameModelId()  # type: ignore[assignment]

    def transcribe(self, audio: AudioClip) -> Transcript: ...


class RawSegment(TypedDict, total=False):
    """One segment as a backend returns it, in seconds from the start of the samples it was
    given. ``start``, ``end`` and ``text`` are required; the statistics feed the guards
    (``guards.drop_reason``) and may be left out (a missing one never drops a segment)."""

    start: float
    end: float
    text: str
    # Mean log probability of the segment's tokens.
    avg_logprob: float
    # Probability that the window held no speech.
    no_speech_prob: float
    # gzip compression ratio of the text (a repetition loop compresses well).
    compression_ratio: float
    # The decoding temperature that produced it (above 0: a fallback was needed).
    temperature: float


@dataclass(frozen=True)
class Recognized:
    """What one backend run found."""

    segments: list[RawSegment]
    # The language used or detected; None if the backend cannot tell.
    language: str | None = None
    # Whether the backend detected ``language`` itself (none was given to it).
    language_detected: bool = False
    # Backend facts worth a log line (model runs, fallbacks...).
    info: dict[str, object] = field(default_factory=dict)


@runtime_checkable
class SpeechBackend(Protocol):
    """A transcription engine: one file in ``transcription/`` plus a line in
    ``registry.TRANSCRIBERS``. The gated loop calls ``transcribe`` with at most ``chunk_s``
    seconds of gated speech at a time, and ``language`` the language to use: the one detected
    in an earlier run of the same file, or None (detect it). A language the user set is the
    backend's own business (``from_options`` reads ``Options.language``).

    Optional: ``load()`` (load the model now, to fail fast), ``is_loaded``, ``device``, and a
    classmethod ``available(device) -> bool`` that ``auto`` asks (default: available).
    """

    @property
    def model_id(self) -> str: ...

    @classmethod
    def from_options(cls, options: Options) -> SpeechBackend: ...

    def transcribe(self, samples: np.ndarray, language: str | None) -> Recognized: ...


def reason(exc: BaseException) -> str:
    """An exception as one line of text."""
    return " ".join((str(exc) or type(exc).__name__).split())
