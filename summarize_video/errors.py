"""One exception hierarchy for the whole package.

Library code raises these; only the CLI turns them into one-line messages and exit codes.
Every error can name the file it concerns, the pipeline stage, and a fix.
"""

from __future__ import annotations

# Exit codes, documented in the README and in ``--help``.
EXIT_OK = 0
EXIT_INPUT_FAILED = 1  # at least one input failed; the others were still processed
EXIT_USAGE = 2  # bad usage or configuration: nothing was processed
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT), after cleanup
EXIT_TERMINATED = 143  # SIGTERM (128 + 15), after the same cleanup


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread by the CLI's handler: a ``KeyboardInterrupt``, so
    every cleanup path that Ctrl-C takes (children, temporary folders, the batch table) runs."""


class SummarizeVideoError(Exception):
    """Base of every error this package raises on purpose."""

    exit_code: int = EXIT_INPUT_FAILED
    default_stage: str = "run"

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        stage: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.stage = stage or self.default_stage
        self.hint = hint

    def one_line(self) -> str:
        """``file: stage: message (hint)`` on a single line, for the CLI and logs."""
        parts = [p for p in (self.path, self.stage) if p]
        text = ": ".join([*parts, self.message])
        if self.hint:
            text += f" ({self.hint})"
        return " ".join(text.split())

    def __str__(self) -> str:
        return self.one_line()


class ConfigError(SummarizeVideoError):
    """Bad options or environment (missing API key, unknown backend, bad prompt folder)."""

    exit_code = EXIT_USAGE
    default_stage = "config"


class PromptError(ConfigError):
    """A prompt file is missing or a template variable has no value."""

    default_stage = "prompt"


class ModelLoadError(ConfigError):
    """A captioning or transcription model could not be loaded."""

    default_stage = "model"


class InputError(SummarizeVideoError):
    """An input path is missing, unreadable, or not a media file."""

    default_stage = "probe"


class DecodeError(SummarizeVideoError):
    """A media file could not be decoded."""

    default_stage = "decode"


class CaptionError(SummarizeVideoError):
    default_stage = "caption"


class TranscribeError(SummarizeVideoError):
    default_stage = "transcribe"


class ReasonerError(SummarizeVideoError):
    """The reasoning LLM call failed (network, server or protocol). ``Summarizer.run``
    returns it as the result's ``failure`` (the result then has captions and transcript but
    no summary); ``summarize()`` raises it."""

    default_stage = "reason"


class ReasonerAuthError(ReasonerError):
    """The LLM server rejected the credentials or the model name: fix the configuration."""

    exit_code = EXIT_USAGE


class ReasonerContextError(ReasonerError):
    """The request did not fit the model's context window. ``limit`` is the window in tokens
    when the server named it, ``prompt_tokens`` the prompt's size by the server's own count
    when it said, and ``sent_tokens`` the same prompt by this package's estimate (set by the
    reasoning step): the pipeline then re-plans the requests to fit, scaled by their ratio."""

    limit: int | None = None
    prompt_tokens: int | None = None
    sent_tokens: int | None = None


class OutputError(SummarizeVideoError):
    default_stage = "write"


class StorageError(SummarizeVideoError):
    """The cache or the run ledger could not be read or written: its disk is full or the
    database file is damaged. A cache error costs the file being summarized."""

    default_stage = "cache"


class LedgerError(StorageError):
    """The run ledger (or its search index) is damaged or cannot be opened: nothing is
    processed until it is moved aside or rebuilt."""

    exit_code = EXIT_USAGE
    default_stage = "ledger"
