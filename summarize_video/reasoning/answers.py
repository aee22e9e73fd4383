"""Reading the reasoning LLM's final answer: JSON first, tolerant fallbacks, checked stamps.

The answer asked for is one JSON object::

    {"summary": str, "key_moments": [{"t": "mm:ss", "text": str}],
     "chapters": [{"start": "mm:ss", "title": str}], "topics": [str]}

Models wrap it in a Markdown fence, add prose around it, or ignore the request and write
Markdown sections; ``parse_answer`` takes all of these and never raises: at worst the summary
is the raw text and the lists are empty.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..timeline import SAY, TimelineEntry

# Stamps are printed rounded down to whole seconds: a cited 01:05 may mean 65.0 to 65.99 s.
STAMP_SLACK_S = 1.0
MAX_GUESSED_SPEECH_S = 30.0
# Places in prose where a JSON object is looked for: enough for any real answer, and bounded
# for one made of nothing but braces.
MAX_OBJECT_STARTS = 200


@dataclass(frozen=True)
class KeyMoment:
    t: float
    text: str


@dataclass(frozen=True)
class Chapter:
    start: float
    title: str


@dataclass(frozen=True)
class Answer:
    summary: str
    key_moments: tuple[KeyMoment, ...] = ()
    chapters: tuple[Chapter, ...] = ()
    topics: tuple[str, ...] = ()
    structured: bool = False  # True when a JSON object was read
    unreadable_stamps: int = 0  # items dropped because their time could not be parsed


_STAMP = re.compile(r"^\s*(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)\s*$")
_SECONDS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*s?\s*$")


def parse_timestamp(value: Any) -> float | None:
    """Seconds from ``mm:ss``, ``h:mm:ss``, ``a-b`` (its start), or plain seconds; else None
    (also for a number too large to be a time, or not finite)."""
    try:
        seconds = _seconds_of(value)
    except (OverflowError, ValueError):
        return None
    return seconds if seconds is not None and math.isfinite(seconds) else None


def _seconds_of(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if value >= 0 else None
    if not isinstance(value, str):
        return None
    text = value.strip().strip("[]()*")
    text = re.split(r"\s*[-\u2013\u2014]\s*", text, maxsplit=1)[0]  # a span: keep its start
    m = _STAMP.match(text)
    if m:
        hours, minutes, seconds = int(m.group(1) or 0), int(m.group(2)), float(m.group(3))
        if (minutes >= 60 and m.group(1)) or seconds >= 60:
            return None
        return hours * 3600 + minutes * 60 + seconds
    m = _SECONDS.match(text)
    return float(m.group(1)) if m else None


def entry_spans(entries: Sequence[TimelineEntry],
                speech: Iterable[tuple[float, float]] = ()) -> list[tuple[float, float]]:
    """The time spans the timeline covers: each entry's ``t``..``end`` (or ``t``), plus ``speech``.

    Pass the transcript's ``(start, end)`` segments as ``speech``: "say" entries carry only
    their start, so without them a moment in the middle of a long sentence points at nothing.
    """
    spans = [(e.t, e.end if e.end is not None and e.end >= e.t else e.t) for e in entries]
    spans += [(float(a), float(max(a, b))) for a, b in speech]
    return sorted(spans)


def say_spans(entries: Sequence[TimelineEntry]) -> list[tuple[float, float]]:
    """Speech spans guessed from the timeline alone, for when segment ends are not at hand.

    Each "say" line is taken to last until the next one, if that comes within
    ``MAX_GUESSED_SPEECH_S`` (a longer gap is silence, not one long sentence).
    """
    says = [e.t for e in entries if e.kind == SAY]
    return [(a, b) for a, b in itertools.pairwise(says) if b - a <= MAX_GUESSED_SPEECH_S]


T = TypeVar("T", KeyMoment, Chapter)


def _time(item: KeyMoment | Chapter) -> float:
    return item.t if isinstance(item, KeyMoment) else item.start


def validate_timestamps(items: Sequence[T], spans: Sequence[tuple[float, float]],
                        tolerance: float) -> tuple[list[T], int]:
    """Keep the items whose time lies within ``tolerance`` (+ 1 s rounding) of some span.

    ``tolerance`` is the sampling interval: a caption stands for the time until the next frame.
    A chapter at 0:00 is always kept (the video starts there). Returns (kept, dropped count).
    """
    slack = max(0.0, tolerance) + STAMP_SLACK_S
    kept: list[T] = []
    for item in items:
        t = _time(item)
        if (isinstance(item, Chapter) and t == 0) or any(
            a - slack <= t <= b + slack for a, b in spans
        ):
            kept.append(item)
    return kept, len(items) - len(kept)


# -- reading the answer --------------------------------------------------------------------

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
_BULLET = re.compile(
    r"^\s*(?:[-*+\u2022]|\d+[.)])\s+\**\[?\(?"
    r"(\d{1,2}:\d{2}(?::\d{2})?|\d+(?:\.\d+)?s)"
    r"(?:\s*[-\u2013\u2014]\s*\d{1,2}:\d{2}(?::\d{2})?)?\]?\)?\**\s*[-\u2013\u2014:|]?\s*(.*)$"
)
_SECTION = re.compile(
    r"^\s*(?:#{1,6}\s*)?(?:\d+[.)]\s*)?(?:\*\*|__)?\s*"
    r"(summary|key moments|chapters|(?:main )?topics)"
    r"\s*(?:\*\*|__)?\s*(?::|$)\s*(?:\*\*|__)?\s*(.*)$",
    re.IGNORECASE,
)


def parse_answer(text: str) -> Answer:
    """The answer as an ``Answer``: from JSON when any can be found, else from Markdown.

    JSON nested deeper than the parser goes is not JSON here: the Markdown reading takes it.
    """
    try:
        return _parse(text)
    except (RecursionError, OverflowError, ValueError):  # a hostile shape: plain text
        return Answer(text.strip())


def no_answer(text: str, finish_reason: str | None) -> str | None:
    """Why ``text`` is no answer at all, or None when it is one (however rough).

    No answer: nothing but punctuation and space (``{ }``, as a JSON grammar makes a random
    model write); a JSON object whose fields are all empty; or an answer cut at the output
    budget (``finish_reason: length``) before a summary was complete, that is neither a
    whole JSON object nor one with a complete ``"summary"`` field (a model repeating one
    token until the budget runs out).
    """
    stripped = text.strip()
    if not re.search(r"\w", stripped):
        shown = stripped[:20] or "nothing"
        return f"an empty answer ({shown})"
    try:
        obj = json.loads(stripped)
    except (ValueError, RecursionError):
        obj = None
    if isinstance(obj, dict) and not any(_str(v) or (isinstance(v, (list, dict)) and v)
                                         for v in obj.values()):
        return "a JSON object without a summary"
    if finish_reason == "length" and not isinstance(obj, dict) \
            and _SUMMARY_FIELD.search(text) is None:
        return (f"{len(text)} characters cut at the output budget (finish_reason length) "
                "before any summary was complete")
    return None


def _parse(text: str) -> Answer:
    obj = _find_json(text)
    if obj is not None:
        return _from_json(obj, text)
    salvaged = _salvage(text)
    if salvaged is not None:
        return salvaged
    return _from_markdown(text)


_JSON_STRING = r'"((?:[^"\\]|\\.)*)"'
_SUMMARY_FIELD = re.compile(r'"summary"\s*:\s*' + _JSON_STRING)
_MOMENT_FIELD = re.compile(r'\{\s*"t"\s*:\s*' + _JSON_STRING + r'\s*,\s*"text"\s*:\s*'
                           + _JSON_STRING + r'\s*\}')


def _salvage(text: str) -> Answer | None:
    """The complete fields of a JSON answer cut off mid-way (``finish_reason: length``)."""
    m = _SUMMARY_FIELD.search(text)
    if m is None:
        return None
    try:
        summary = json.loads(f'"{m.group(1)}"')
        pairs = [(json.loads(f'"{a}"'), json.loads(f'"{b}"'))
                 for a, b in _MOMENT_FIELD.findall(text)]
    except ValueError:
        return None
    moments = [KeyMoment(t, _str(b)) for a, b in pairs
               if (t := parse_timestamp(a)) is not None and _str(b)]
    return Answer(summary.strip() or text.strip(), tuple(sorted(moments, key=lambda x: x.t)))


def _find_json(text: str) -> dict[str, Any] | None:
    candidates = [text.strip(), *(m.group(1).strip() for m in _FENCE.finditer(text))]
    for candidate in candidates:
        try:
            obj = json.loads(candidate)
        except (ValueError, RecursionError):
            continue
        if _looks_like_answer(obj):
            return obj
    decoder = json.JSONDecoder()
    for m in itertools.islice(re.finditer(r"\{", text), MAX_OBJECT_STARTS):  # inside prose
        try:
            obj, _ = decoder.raw_decode(text, m.start())
        except (ValueError, RecursionError):
            continue
        if _looks_like_answer(obj):
            return obj
    return None


def _looks_like_answer(obj: Any) -> bool:
    return isinstance(obj, dict) and any(
        k in obj for k in ("summary", "key_moments", "chapters", "topics")
    )


def _str(value: Any) -> str:
    return " ".join(str(value).split()) if isinstance(value, (str, int, float)) else ""


def _from_json(obj: dict[str, Any], raw: str) -> Answer:
    unreadable = 0
    moments: list[KeyMoment] = []
    for item in obj.get("key_moments") or []:
        if not isinstance(item, dict):
            continue
        t = parse_timestamp(item.get("t", item.get("time", item.get("start"))))
        text = _str(item.get("text", item.get("description", "")))
        if t is None:
            unreadable += 1
        elif text:
            moments.append(KeyMoment(t, text))
    chapters: list[Chapter] = []
    for item in obj.get("chapters") or []:
        if not isinstance(item, dict):
            continue
        t = parse_timestamp(item.get("start", item.get("t")))
        title = _str(item.get("title", item.get("text", "")))
        if t is None:
            unreadable += 1
        elif title:
            chapters.append(Chapter(t, title))
    raw_topics = obj.get("topics") or []
    if isinstance(raw_topics, str):
        raw_topics = raw_topics.split(",")
    topics = tuple(t for t in (_str(x) for x in raw_topics if not isinstance(x, dict)) if t) \
        if isinstance(raw_topics, list) else ()
    summary = obj.get("summary")
    summary = summary.strip() if isinstance(summary, str) and summary.strip() else ""
    if not summary and not moments and not chapters:
        summary = raw.strip()
    return Answer(summary, tuple(sorted(moments, key=lambda m: m.t)),
                  tuple(sorted(chapters, key=lambda c: c.start)), topics, True, unreadable)


def _from_markdown(text: str) -> Answer:
    """Sections named like "Key moments", "Chapters", "Topics"; the rest is the summary.

    Timestamped bullets outside a "Chapters" section are key moments.
    """
    section = "summary"
    summary: list[str] = []
    moments: list[KeyMoment] = []
    chapters: list[Chapter] = []
    topics: list[str] = []
    for line in text.splitlines():
        heading = _SECTION.match(line)
        if heading:
            section = heading.group(1).lower().removeprefix("main ")
            rest = heading.group(2).strip(" *_")
            if section == "topics":
                topics += _topic_list(rest)
            elif section == "summary" and rest:
                summary.append(rest)
            continue
        bullet = _BULLET.match(line)
        t = parse_timestamp(bullet.group(1)) if bullet else None
        body = bullet.group(2).strip(" *_") if bullet else ""
        if t is not None and body and section != "topics":
            if section == "chapters":
                chapters.append(Chapter(t, body))
            else:
                moments.append(KeyMoment(t, body))
        elif section == "topics":
            topics += _topic_list(line.strip().lstrip("-*+\u2022 "))
        elif section == "summary":
            summary.append(line)
    body = "\n".join(summary).strip()
    return Answer(body or text.strip(), tuple(sorted(moments, key=lambda m: m.t)),
                  tuple(sorted(chapters, key=lambda c: c.start)), tuple(topics), False)


def cap_answer(answer: Answer, max_chars: int) -> tuple[Answer, bool]:
    """``answer`` cut to ``max_chars`` characters in all (the summary first, then key moments,
    chapters and topics, in order), and whether anything was cut."""
    room = max(0, max_chars)
    summary = answer.summary[:room]
    room -= len(summary)
    kept: list[list[Any]] = [[], [], []]
    for out, items, size in ((kept[0], answer.key_moments, lambda m: len(m.text)),
                             (kept[1], answer.chapters, lambda c: len(c.title)),
                             (kept[2], answer.topics, len)):
        for item in items:
            if size(item) > room:
                break
            out.append(item)
            room -= size(item)
    cut = (len(summary) < len(answer.summary) or len(kept[0]) < len(answer.key_moments)
           or len(kept[1]) < len(answer.chapters) or len(kept[2]) < len(answer.topics))
    if not cut:
        return answer, False
    return Answer(summary, tuple(kept[0]), tuple(kept[1]), tuple(kept[2]), answer.structured,
                  answer.unreadable_stamps), True


def _topic_list(text: str) -> list[str]:
    return [t for t in (part.strip(" .*_") for part in text.split(",")) if t]
