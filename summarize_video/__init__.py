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

__all__ = ["Hit", "Options", "Result", "Summarizer", "__version__", "ask", "search",
           "summarize", "summarize_many"]

if TYPE_CHECKING:
    from .batch.run import summarize_many
    from .catalog.search import Hit, search
    from .options import Options
    from .pipeline.results import Result
    from .pipeline.summarizer import Summarizer, ask, summarize

_LAZY = {
    "summarize": "pipeline.summarizer",
    "ask": "pipeline.summarizer",
    "Summarizer": "pipeline.summarizer",
    "summarize_many": "batch.run",
    "Options": "options",
    "Result": "pipeline.results",
    "search": "catalog.search",
    "Hit": "catalog.search",
}


def __getattr__(name: str) -> Any:
    """Import the public names on first use, so ``import summarize_video`` stays fast."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'summarize_video' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{module}", __name__), name)
