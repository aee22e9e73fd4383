"""The typed result of summarizing one file, and its JSON form."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import ReasonerError
from ..reasoning.answers import Chapter, KeyMoment
from ..reasoning.base import Usage
from ..timeline import Caption, ScreenText
from ..transcription.base import Segment


@dataclass(frozen=True)
class VideoInfo:
    # The input path as given.
    path: str
    # Seconds; from the headers, or from the last frame or speech when headers say nothing.
    duration_s: float | None
    # Display size (rotation and pixel aspect applied); None for audio-only input.
    width: int | None
    height: int | None
    # Average frame rate; None for audio-only input.
    fps: float | None
    has_audio: bool
    has_video: bool = True
    # Clockwise degrees applied to make frames upright.
    rotation: int = 0


@dataclass(frozen=True)
class Result:
    video: VideoInfo
    # Result-changing settings (never secrets).
    settings: dict[str, Any]
    captions: tuple[Caption, ...]
    transcript: tuple[Segment, ...]
    # Spoken language detected or given; None without speech.
    language: str | None
    # The LLM's summary; None with --no-llm.
    summary: str | None
    # Reasoner tokens in and out; zeros with --no-llm.
    usage: Usage
    # Seconds per stage, plus "total".
    timings_s: dict[str, float]
    # Text read on screen, one entry per text block with the span it stayed (empty when
    # nothing was read or --ocr is off).
    screen_text: tuple[ScreenText, ...] = ()
    # Cited moments and chapters that point at something seen or heard, and the main topics.
    key_moments: tuple[KeyMoment, ...] = ()
    chapters: tuple[Chapter, ...] = ()
    topics: tuple[str, ...] = ()
    # How the summary was made: calls, windows, dropped_timestamps, structured, truncated,
    # context_tokens, tokens_exact.
    reasoning: dict[str, Any] = field(default_factory=dict)
    # With --dry-run: the requests that would be sent, each with its token count.
    requests: tuple[dict[str, Any], ...] = ()
    # Frames decoded, chosen by the sampler, kept for captioning and dropped as near-duplicates.
    frames: dict[str, int] = field(default_factory=dict)
    # Transcription facts: language_detected, dropped_segments (guards), flags (no-speech...).
    speech: dict[str, Any] = field(default_factory=dict)
    # Price of the reasoning calls and what native video input would have cost (see cost.py).
    cost: dict[str, Any] = field(default_factory=dict)
    # Per stage: "hit" (reused from the cache), "miss" (computed and stored); empty without cache.
    cache: dict[str, str] = field(default_factory=dict)
    # What the reader should know: audio-only input, no audio, a damaged file...
    notes: tuple[str, ...] = ()
    # The exact timeline text the reasoning LLM was given.
    timeline: str = ""
    version: str = field(default="")
    # How the result was made: versions, models, prompt hashes, every setting (no secrets),
    # the input's content hash (see summarize_video.pipeline.provenance).
    provenance: dict[str, Any] = field(default_factory=dict)
    # Why there is no summary although one was asked for: the reasoning step's error (the
    # captions and transcript are all here). Not part of the JSON.
    failure: ReasonerError | None = field(default=None, compare=False)

    def facts(self) -> list[str]:
        """Short facts for report headers: duration, size, fps, audio, language."""
        from ..timeline import format_timestamp

        v = self.video
        facts = [f"duration {format_timestamp(v.duration_s)}" if v.duration_s is not None
                 else "duration unknown"]
        if v.has_video and v.width and v.height:
            facts.append(f"{v.width}x{v.height}")
        if v.fps:
            facts.append(f"{v.fps:.3g} fps")
        facts.append("audio" if v.has_audio else "no audio")
        if self.language:
            facts.append(f"language {self.language}")
        return facts

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "video": asdict(self.video),
            "settings": dict(self.settings),
            "captions": [{"t": c.t, "until": c.until, "text": c.text} for c in self.captions],
            "transcript": [asdict(s) for s in self.transcript],
            "screen_text": [{"t": r.t, "until": r.until, "text": r.text}
                            for r in self.screen_text],
            "language": self.language,
            "speech": dict(self.speech),
            "summary": self.summary,
            "key_moments": [asdict(m) for m in self.key_moments],
            "chapters": [asdict(c) for c in self.chapters],
            "topics": list(self.topics),
            "reasoning": dict(self.reasoning),
            "usage": asdict(self.usage),
            "cost": dict(self.cost),
            "frames": dict(self.frames),
            "cache": dict(self.cache),
            "timings_s": {k: round(v, 3) for k, v in self.timings_s.items()},
            "notes": list(self.notes),
            "provenance": dict(self.provenance),
            **({"requests": list(self.requests)} if self.requests else {}),
        }
