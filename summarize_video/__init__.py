"""summarize-video: caption-then-reason video summaries.

Frames are captioned by a small local vision model, the audio is transcribed locally with
Whisper, and one reasoning LLM writes the summary from the timestamped text.

    from summarize_video import summarize
    result = summarize("talk.mp4", interval=10)
    print(result.summary)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import (
    CaptionError,
    ConfigError,
    DecodeError,
    InputError,
    ModelLoadError,
    OutputError,
    PromptError,
    ReasonerAuthError,
    ReasonerContextError,
    ReasonerError,
    SummarizeVideoError,
    TranscribeError,
)

__all__ = ["CaptionError", "Captioner", "Completion", "ConfigError", "DecodeError", "Hit",
           "InputError", "Message", "ModelLoadError", "Options", "Outcome", "OutputError",
           "PromptError", "Reasoner", "ReasonerAuthError", "ReasonerContextError",
           "ReasonerError", "Recognized", "Result", "Segment", "SpeechBackend",
           "SummarizeVideoError", "Summarizer", "TranscribeError", "Transcriber", "Transcript",
           "__version__", "ask", "ask_library", "export", "search", "summarize",
           "summarize_many"]

if TYPE_CHECKING:
    from .batch.api import ask, summarize
    from .batch.batch import Outcome
    from .batch.run import summarize_many
    from .captioning.base import Captioner
    from .catalog.export import export
    from .catalog.library import ask_library
    from .catalog.search import Hit, search
    from .options import Options
    from .pipeline.results import Result
    from .pipeline.summarizer import Summarizer
    from .reasoning.base import Completion, Message, Reasoner
    from .transcription.base import Recognized, Segment, SpeechBackend, Transcriber, Transcript

_LAZY = {
    "summarize": "batch.api",
    "ask": "batch.api",
    "Summarizer": "pipeline.summarizer",
    "summarize_many": "batch.run",
    "Options": "options",
    "Result": "pipeline.results",
    "search": "catalog.search",
    "Hit": "catalog.search",
    "ask_library": "catalog.library",
    "export": "catalog.export",
    "Outcome": "batch.batch",
    # The stage protocols, for backends of one's own.
    "Captioner": "captioning.base",
    "Transcriber": "transcription.base",
    "SpeechBackend": "transcription.base",
    "Recognized": "transcription.base",
    "Segment": "transcription.base",
    "Transcript": "transcription.base",
    "Reasoner": "reasoning.base",
    "Message": "reasoning.base",
    "Completion": "reasoning.base",
}


def __getattr__(name: str) -> Any:
    """Import the public names on first use, so ``import summarize_video`` stays fast."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'summarize_video' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{module}", __name__), name)
