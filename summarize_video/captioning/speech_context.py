"""What was said around a moment: the transcript text a frame's caption can be conditioned on.

Pure and light: segments are any objects with ``start``, ``end`` (seconds on the video's
timeline) and ``text``, such as ``summarize_video.transcription.whisper.Segment``.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

from ..errors import PromptError
from ..prompting import CAPTION_CONTEXT, fill

DEFAULT_WINDOW = 4.0
DEFAULT_MAX_CHARS = 300


def trim_words(text: str, max_chars: int) -> str:
    """``text`` cut to at most ``max_chars`` at a word boundary (a lone long word is cut hard)."""
    if len(text) <= max_chars:
        return text
    head = text[: max_chars + 1]  # one more: a space right after the limit is a clean cut
    cut = head.rfind(" ")
    return (head[:cut] if cut > 0 else text[:max_chars]).rstrip()


def speech_context(
    t: float,
    segments: Sequence[Any],
    window: float = DEFAULT_WINDOW,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> str:
    """The text of the segments overlapping ``[t - window, t + window]``, in time order.

    Whitespace is collapsed, blank segments are skipped and a segment repeating the previous
    one word for word (whisper's loops on silence) is kept once. The result is trimmed to
    ``max_chars`` at a word boundary, keeping its beginning; ``""`` when nothing was said.
    """
    if window < 0:
        raise ValueError(f"window must not be negative, got {window}")
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}")
    lo, hi = t - window, t + window
    near = sorted(
        (s for s in segments if float(s.start) <= hi and float(s.end) >= lo),
        key=lambda s: (float(s.start), float(s.end)),
    )
    parts: list[str] = []
    for seg in near:
        text = " ".join(str(seg.text or "").split())
        if text and (not parts or text != parts[-1]):
            parts.append(text)
    return trim_words(" ".join(parts), max_chars)


def check_context_template(template: str) -> str:
    """``template`` if it is a usable caption context prompt: it uses $speech and nothing else.

    Raises ``PromptError`` (a ``ConfigError``) otherwise, before any model is loaded.
    """
    if "speech" not in string.Template(template).get_identifiers():
        raise PromptError(f"{CAPTION_CONTEXT}: the template never uses $speech",
                          hint="put $speech where the transcript excerpt goes")
    fill(template, {"speech": ""}, name=CAPTION_CONTEXT)  # unknown $names or a stray $
    return template
