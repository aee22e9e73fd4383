"""Guards on whisper's output segments: drop silence, repetition loops and stock hallucinations.

Pure functions on the segment dicts that ``whisper.transcribe`` returns (keys ``text``,
``avg_logprob``, ``no_speech_prob``, ``compression_ratio``); a missing statistic never drops
a segment.
"""

from __future__ import annotations

import re
from typing import Any

# The thresholds default to whisper's own (its CLI's ``--no_speech_threshold`` etc.).
from ..options import (
    DEFAULT_COMPRESSION_RATIO_THRESHOLD,
    DEFAULT_LOGPROB_THRESHOLD,
    DEFAULT_NO_SPEECH_THRESHOLD,
)

# A stock phrase is dropped only from a segment this unsure of itself: no_speech_prob above
# the first value or avg_logprob below the second. Real speech that whisper hears clearly
# scores around no_speech_prob < 0.1 and avg_logprob > -0.4.
PHRASE_NO_SPEECH_PROB = 0.2
PHRASE_LOGPROB = -0.6
# ... unless it is a line of dialogue: decoded without doubt (avg_logprob at least
# PHRASE_LOGPROB, no_speech_prob under the no-speech threshold) and within this many seconds
# of other speech that is kept. no_speech_prob belongs to the whole 30 s window, so a short
# "Thank you." between lines of a busy scene can score 0.3 without being silence.
PHRASE_NEIGHBOUR_S = 1.5

# Sentences whisper is known to invent on silence, music and noise (YouTube outros and
# subtitle credits in its training data). Matched, case-insensitively, against each sentence
# of a segment; the segment counts as a stock phrase only when every sentence matches.
HALLUCINATION_PATTERNS: tuple[str, ...] = (
    r"(thank you|thanks)( so much| very much)? for (watching|listening)",
    r"(please )?(like and )?subscribe( to (my|our|the) channel)?",
    r"(sub)?titles? (by|made by|created by) .*",
    r".*amara ?org.*",  # "Subtitles by the Amara.org community", also its translations
    r"thank you",
)
_PHRASES = re.compile("|".join(f"(?:{p})" for p in HALLUCINATION_PATTERNS))
_SENTENCE_END = re.compile(r"[.!?…。！？]+")
_NOT_WORD = re.compile(r"[^\w\s]+")


def _stat(segment: dict[str, Any], key: str) -> float | None:
    value = segment.get(key)
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def is_stock_phrase(text: str) -> bool:
    """Whether ``text`` consists only of known hallucination phrases (any case, punctuation)."""
    lowered = text.lower().replace("amara.org", "amara org")
    sentences = [" ".join(_NOT_WORD.sub(" ", s).split()) for s in _SENTENCE_END.split(lowered)]
    sentences = [s for s in sentences if s]
    return bool(sentences) and all(_PHRASES.fullmatch(s) for s in sentences)


def drop_reason(
    segment: dict[str, Any],
    *,
    no_speech_threshold: float | None = DEFAULT_NO_SPEECH_THRESHOLD,
    logprob_threshold: float | None = DEFAULT_LOGPROB_THRESHOLD,
    compression_ratio_threshold: float | None = DEFAULT_COMPRESSION_RATIO_THRESHOLD,
) -> str | None:
    """Why ``segment`` should be dropped ("no-speech", "repetition", "stock-phrase"), or None.

    - no-speech: ``no_speech_prob > no_speech_threshold`` and ``avg_logprob <
      logprob_threshold`` (whisper's own silence rule, here per segment);
    - repetition: ``compression_ratio > compression_ratio_threshold`` (a decoding loop);
    - stock-phrase: the text is only phrases from ``HALLUCINATION_PATTERNS`` and whisper was
      unsure (``PHRASE_NO_SPEECH_PROB``, ``PHRASE_LOGPROB``). Confident speech is kept.
    A threshold of None disables its rule, as in whisper.
    """
    no_speech = _stat(segment, "no_speech_prob")
    logprob = _stat(segment, "avg_logprob")
    ratio = _stat(segment, "compression_ratio")
    if (no_speech_threshold is not None and logprob_threshold is not None
            and no_speech is not None and logprob is not None
            and no_speech > no_speech_threshold and logprob < logprob_threshold):
        return "no-speech"
    if compression_ratio_threshold is not None and ratio is not None \
            and ratio > compression_ratio_threshold:
        return "repetition"
    unsure = (no_speech is not None and no_speech > PHRASE_NO_SPEECH_PROB) or (
        logprob is not None and logprob < PHRASE_LOGPROB)
    if unsure and is_stock_phrase(str(segment.get("text", ""))):
        return "stock-phrase"
    return None


def filter_segments(
    segments: list[dict[str, Any]],
    *,
    no_speech_threshold: float | None = DEFAULT_NO_SPEECH_THRESHOLD,
    logprob_threshold: float | None = DEFAULT_LOGPROB_THRESHOLD,
    compression_ratio_threshold: float | None = DEFAULT_COMPRESSION_RATIO_THRESHOLD,
) -> tuple[list[dict[str, Any]], int]:
    """The segments that pass every guard (order kept) and how many were dropped. A stock
    phrase that is a line of dialogue (``is_dialogue``) is kept; ``start``/``end`` should be
    on the file's timeline, so that the silence the gate cut out counts as distance."""
    reasons = [drop_reason(s, no_speech_threshold=no_speech_threshold,
                           logprob_threshold=logprob_threshold,
                           compression_ratio_threshold=compression_ratio_threshold)
               for s in segments]
    speech = [s for s, why in zip(segments, reasons, strict=True) if why is None]
    kept = [s for s, why in zip(segments, reasons, strict=True)
            if why is None or (why == "stock-phrase"
                               and is_dialogue(s, speech, no_speech_threshold))]
    return kept, len(segments) - len(kept)


def is_dialogue(segment: dict[str, Any], speech: list[dict[str, Any]],
                no_speech_threshold: float | None = DEFAULT_NO_SPEECH_THRESHOLD) -> bool:
    """Whether a stock phrase is a confident line between other lines: avg_logprob at least
    ``PHRASE_LOGPROB``, no_speech_prob under ``no_speech_threshold`` (0.6 when None), and
    a segment of ``speech`` (kept, not a stock phrase) within ``PHRASE_NEIGHBOUR_S``."""
    logprob = _stat(segment, "avg_logprob")
    no_speech = _stat(segment, "no_speech_prob")
    limit = DEFAULT_NO_SPEECH_THRESHOLD if no_speech_threshold is None else no_speech_threshold
    if logprob is None or logprob < PHRASE_LOGPROB or (no_speech is not None
                                                       and no_speech >= limit):
        return False
    start, end = _stat(segment, "start"), _stat(segment, "end")
    if start is None or end is None:
        return False
    for other in speech:
        a, b = _stat(other, "start"), _stat(other, "end")
        if a is None or b is None or is_stock_phrase(str(other.get("text", ""))):
            continue
        if a - PHRASE_NEIGHBOUR_S <= end and start <= b + PHRASE_NEIGHBOUR_S:
            return True
    return False
