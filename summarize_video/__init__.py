"""summarize-video: caption-then-reason video summaries."""

__version__ = "0.1.0"
