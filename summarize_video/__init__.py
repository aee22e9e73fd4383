"""summarize-video: caption-then-reason video summaries.

Frames are captioned by a small local vision model, the audio is transcribed locally with
Whisper, and one reasoning LLM writes the summary from the timestamped text.

    from summarize_video import summarize
    result = summarize("talk.mp4", interval=10)
    print(result.summary)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Hit", "Options", "Result", "Summarizer", "__version__", "ask", "search",
           "summarize", "summarize_many"]

if TYPE_CHECKING:
    from .batch import summarize_many
    from .options import Options
    from .pipeline import Summarizer, ask, summarize
    from .results import Result
    from .search_index import Hit, search

_LAZY = {
    "summarize": "pipeline",
    "ask": "pipeline",
    "Summarizer": "pipeline",
    "summarize_many": "batch",
    "Options": "options",
    "Result": "results",
    # Not "search": importing a submodule of that name would shadow the function.
    "search": "search_index",
    "Hit": "search_index",
}


def __getattr__(name: str) -> Any:
    """Import the public names on first use, so ``import summarize_video`` stays fast."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'summarize_video' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{module}", __name__), name)
