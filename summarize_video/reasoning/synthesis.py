"""The reasoning step: the timeline in, a structured summary out, within the model's context.

``plan()`` builds the requests. When the whole fenced timeline fits one request (prompt plus
the reserved output within ``context_tokens``) that is the plan: one call. Otherwise it is a
hierarchical map-reduce: the entries are cut into consecutive time windows that each fit one
request (an entry is never split; one too long for a window on its own is truncated and
counted), each window is condensed into timestamped notes (``prompts/partial.md``), notes are
combined in groups that fit (again with ``partial.md``, level after level) until all of them
fit the final request (``prompts/summary.md``, the notes in place of the timeline).

Budget, per request: ``count_messages(request) <= context_tokens - max_output_tokens``. Notes
are capped at ``partial_tokens`` (asked of the server, and cut to it if the server ignores it)
so that any two fit one combining request: the reduce always makes progress.

``run()`` executes a plan with a ``Reasoner`` and reads the final JSON answer tolerantly
(``answers.parse_answer``), dropping key moments and chapters whose stamps point at nothing.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import prompting
from ..errors import ConfigError, ReasonerContextError, ReasonerError
from ..timeline import READ, TimelineEntry, format_timestamp, render
from .answers import (
    Chapter,
    KeyMoment,
    cap_answer,
    entry_spans,
    no_answer,
    parse_answer,
    say_spans,
    validate_timestamps,
)
from .registry import Completion, Message, Reasoner, Usage
from .tokens import count_messages, count_tokens, truncate_to_tokens
from .untrusted import clean_text, fence, new_nonce, strip_delimiters

log = logging.getLogger(__name__)

PARTIAL = "partial.md"
EMPTY_TIMELINE = "(nothing was seen or heard)"
TRUNCATED = " [...truncated]"
# Smallest useful room for timeline lines in one window, and for one partial summary.
MIN_WINDOW_TOKENS = 64
MIN_PARTIAL_TOKENS = 64
# Room kept for tokenizers that merge across joined pieces (counts of parts vs the whole).
MARGIN_TOKENS = 8
# Most characters an answer may hold per token of its output budget: real text averages
# about 4; more than this is a server sending what no model wrote within the budget.
MAX_CHARS_PER_TOKEN = 8
FILTERED = "content_filter"
# Least room kept for the answer however small the context (a summary JSON of a few lines).
MIN_ANSWER_TOKENS = 512
# Share of the prompt room left unused after the server counted the prompt for us.
REFIT_MARGIN = 0.1
# Final answers that are no answer (cut at the budget before any summary, or an empty JSON
# object) are asked for this many times in all before the file fails.
ANSWER_ATTEMPTS = 2
HINT = "raise --context-tokens (the model's context window), or lower the output reserve"

__all__ = [
    "Chapter", "KeyMoment", "Plan", "Synthesis", "answer_reserve", "plan", "refit", "run",
    "validate_timestamps",
]


@dataclass(frozen=True)
class Window:
    """One map request: the entries ``first``..``last`` (indices, inclusive) of the timeline."""
    first: int
    last: int
    start: float
    end: float
    messages: list[Message]


@dataclass
class Plan:
    model: str
    context_tokens: int
    max_output_tokens: int
    partial_tokens: int  # output cap of each map/combine call (<= max_output_tokens)
    nonce: str
    variables: dict[str, str]  # title, duration, notes, focus: shared by every request
    prompts: dict[str, str]  # system, summary, partial templates
    single: list[Message] | None  # the one request, when everything fits
    windows: list[Window]  # map requests otherwise
    spans: list[tuple[float, float]]  # what cited stamps may point at
    tolerance: float
    truncated: int = 0  # entries cut to fit a window alone
    token_scale: float = 1.0  # the server's token count over ours, when a refusal told it

    @property
    def prompt_budget(self) -> int:
        return self.context_tokens - self.max_output_tokens

    @property
    def requests(self) -> list[list[Message]]:
        """The requests known before any call: the single one, or the map requests."""
        return [self.single] if self.single is not None else [w.messages for w in self.windows]


@dataclass(frozen=True)
class Synthesis:
    summary: str
    key_moments: tuple[KeyMoment, ...]
    chapters: tuple[Chapter, ...]
    topics: tuple[str, ...]
    usage: Usage  # summed over calls; estimated when any call's was
    calls: int
    windows: int  # timeline windows: 1 when the whole timeline fit one request
    dropped_timestamps: int  # key moments and chapters that pointed at nothing
    structured: bool  # the final answer was JSON (else read from prose)
    truncated: int = 0  # timeline entries, partial summaries and the answer cut to fit
    messages: list[list[Message]] = field(default_factory=list)  # every request, in order
    notes: tuple[str, ...] = ()  # what the result should say about the answer
    # Why the answer is incomplete though it came (the server's content filter), or None.
    incomplete: str | None = None


# -- planning ------------------------------------------------------------------------------

def plan(
    entries: Sequence[TimelineEntry],
    *,
    title: str,
    duration: float | None,
    notes: Sequence[str] = (),
    focus: str | None = None,
    model: str,
    context_tokens: int,
    max_output_tokens: int,
    prompts_dir: Path | str | None = None,
    speech_spans: Sequence[tuple[float, float]] | None = None,
    tolerance: float = 0.0,
    nonce: str | None = None,
) -> Plan:
    """The requests for ``entries`` (see the module doc). Raises ``ConfigError`` if none fits.

    ``speech_spans``: the transcript's (start, end) segments, for checking cited stamps; when
    None they are guessed from the "say" lines. ``tolerance``: the frame sampling interval.
    """
    if max_output_tokens < 1 or context_tokens < 1:
        raise ConfigError(f"token limits must be positive (context {context_tokens}, "
                          f"output {max_output_tokens})")
    nonce = nonce or new_nonce()

    def inline(text: str) -> str:  # outside the fence, yet no way to forge it (a file name!)
        return " ".join(strip_delimiters(clean_text(text), nonce).split())

    focus_line = inline(focus or "")
    variables = {
        "title": inline(title),
        "duration": format_timestamp(duration) if duration is not None else "unknown",
        "notes": "".join(f"Note: {inline(n)}\n" for n in notes),
        "focus": (f"Focus: the viewer asks \"{focus_line}\". Answer it in the summary and "
                  "prefer moments that bear on it.\n") if focus_line else "",
    }
    prompts = {name: prompting.load_prompt(file, prompts_dir) for name, file in
               (("system", prompting.SYSTEM), ("summary", prompting.SUMMARY),
                ("partial", PARTIAL))}
    if any(e.kind == READ for e in entries):  # explained only where there are such lines
        prompts["system"] += "\n" + prompting.load_prompt(prompting.SCREEN, prompts_dir)
    spans = entry_spans(entries, say_spans(entries) if speech_spans is None else speech_spans)
    p = Plan(model, context_tokens, max_output_tokens, 0, nonce, variables,
             prompts, None, [], spans, tolerance)
    budget = p.prompt_budget
    empty_final = count_messages(_final(p, ""), model)
    if empty_final + MARGIN_TOKENS > budget:
        raise _too_small(p, empty_final + MARGIN_TOKENS)

    timeline = render(entries) or EMPTY_TIMELINE
    single = _final(p, timeline)
    if count_messages(single, model) <= budget:
        p.single = single
        p.partial_tokens = max_output_tokens
        return p

    if not entries:
        raise _too_small(p, count_messages(single, model) + max_output_tokens)
    last = max(e.end if e.end is not None else e.t for e in entries)
    widest = _label(last, last)
    empty_partial = count_messages(_partial(p, widest, ""), model)
    window_room = budget - empty_partial - MARGIN_TOKENS
    header = count_tokens(f"[{widest}]\n\n\n", model)
    combine_room = budget - max(empty_partial, empty_final) - MARGIN_TOKENS
    p.partial_tokens = min(max_output_tokens, combine_room // 2 - header - MARGIN_TOKENS)
    if window_room < MIN_WINDOW_TOKENS or p.partial_tokens < MIN_PARTIAL_TOKENS:
        need = max(empty_partial, empty_final) + 2 * (MIN_PARTIAL_TOKENS + header) + \
            4 * MARGIN_TOKENS + max_output_tokens
        raise _too_small(p, need)

    lines: list[str] = []
    for entry in entries:
        line = render([entry])
        if count_tokens(line + "\n", model) > window_room:
            line = truncate_to_tokens(line, window_room - 1, model, TRUNCATED)
            p.truncated += 1
        lines.append(line)
    costs = [count_tokens(line + "\n", model) for line in lines]
    p.windows = _pack(p, entries, lines, costs, window_room)
    return p

def answer_reserve(context_tokens: int, requested: int) -> int:
    """Tokens kept for the answer in a context of ``context_tokens``: the ``requested``
    budget, but never more than half the context (at least ``MIN_ANSWER_TOKENS``), so that a
    small context (2k-4k, as local servers run) leaves room for the prompt."""
    return max(1, min(requested, max(MIN_ANSWER_TOKENS, context_tokens // 2)))


def refit(the_plan: Plan, exc: ReasonerContextError,
          make_plan: Callable[[int, int], Plan], name: str) -> Plan:
    """The requests planned again for the context window the server named, with prompts
    measured as the server counts them: when it said how large the refused prompt was, every
    estimate is scaled by its count over ours. ``exc`` again when it named no window or
    nothing fits it."""
    limit = exc.limit
    scale = 1.0
    if exc.prompt_tokens and exc.sent_tokens and exc.prompt_tokens > exc.sent_tokens:
        scale = exc.prompt_tokens / exc.sent_tokens
    if limit is None or (limit >= the_plan.context_tokens and scale == 1.0):
        raise exc
    output = answer_reserve(limit, the_plan.max_output_tokens)
    # Prompt room in our own tokens, with a tenth kept for the estimate's unevenness.
    room = int((limit - output) / scale * (1 - REFIT_MARGIN)) if scale > 1 else limit - output
    try:
        smaller = make_plan(room + output, output)
    except ConfigError:
        raise exc from None
    counted = f" and counts {scale:.1f}x the tokens estimated here" if scale > 1 else ""
    log.warning("%s: the LLM server's context window is %d tokens%s: sending %d request(s) "
                "that fit (pass --context-tokens %d to plan for it at once)",
                name, limit, counted, len(smaller.requests), limit)
    smaller.token_scale = scale
    return smaller


def _pack(p: Plan, entries: Sequence[TimelineEntry], lines: list[str], costs: list[int],
          room: int) -> list[Window]:
    """Consecutive runs of lines that fit ``room``, checked against the real request size."""
    groups: list[list[int]] = []
    used = 0
    for i, cost in enumerate(costs):
        if not groups or used + cost > room:
            groups.append([])
            used = 0
        groups[-1].append(i)
        used += cost
    windows: list[Window] = []
    k = 0
    while k < len(groups):
        group = groups[k]
        start = entries[group[0]].t
        end = max(entries[i].end if entries[i].end is not None else entries[i].t for i in group)
        messages = _partial(p, _label(start, end), "\n".join(lines[i] for i in group))
        if count_messages(messages, p.model) > p.prompt_budget:
            if len(group) == 1:  # cannot happen with room computed from the widest label
                raise _too_small(p, count_messages(messages, p.model) + p.max_output_tokens)
            if k + 1 == len(groups):
                groups.append([])
            groups[k + 1].insert(0, group.pop())  # the tokenizer merged across lines: shift
            continue
        windows.append(Window(group[0], group[-1], start, end, messages))
        k += 1
    return windows


def _too_small(p: Plan, need: int) -> ConfigError:
    return ConfigError(
        f"context of {p.context_tokens} tokens is too small for the summary prompts with "
        f"{p.max_output_tokens} tokens reserved for the answer (needs about {need})",
        hint=HINT,
    )


def _label(start: float, end: float) -> str:
    return f"{format_timestamp(start)}-{format_timestamp(end)}"


def _system(p: Plan) -> Message:
    return {"role": "system", "content": prompting.fill(p.prompts["system"], {}, name="system")}


def _final(p: Plan, body: str) -> list[Message]:
    variables = {**p.variables, "timeline": fence(body, p.nonce)}
    return [_system(p), {"role": "user", "content": prompting.fill(
        p.prompts["summary"], variables, name=prompting.SUMMARY)}]


def _partial(p: Plan, window: str, body: str) -> list[Message]:
    variables = {"title": p.variables["title"], "focus": p.variables["focus"],
                 "window": window, "timeline": fence(body, p.nonce)}
    return [_system(p), {"role": "user", "content": prompting.fill(
        p.prompts["partial"], variables, name=PARTIAL)}]


# -- running -------------------------------------------------------------------------------

@dataclass
class _Run:
    plan: Plan
    reasoner: Reasoner
    sent: list[list[Message]] = field(default_factory=list)
    completions: list[Completion] = field(default_factory=list)
    truncated: int = 0

    def call(self, messages: list[Message], max_output_tokens: int, json_mode: bool) -> str:
        size = count_messages(messages, self.plan.model)
        if size > self.plan.prompt_budget:  # a bug, never a request the server may truncate
            raise ConfigError(f"internal: a request of {size} tokens exceeds the budget of "
                              f"{self.plan.prompt_budget}", hint=HINT)
        self.sent.append(messages)
        try:
            completion = complete_with(self.reasoner, messages, max_output_tokens, json_mode)
        except ReasonerContextError as exc:
            exc.sent_tokens = size  # for refit: the server's count against ours
            raise
        self.completions.append(completion)
        return completion.text

    def note(self, window: str, messages: list[Message]) -> tuple[str, str]:
        """A partial summary, cut to ``partial_tokens`` if the server ignored the cap."""
        text = self.call(messages, self.plan.partial_tokens, False)
        text = clean_text(text[: self.plan.partial_tokens * MAX_CHARS_PER_TOKEN]).strip()
        capped = truncate_to_tokens(text, self.plan.partial_tokens, self.plan.model, TRUNCATED)
        self.truncated += capped != text
        return window, capped


def run(p: Plan, reasoner: Reasoner) -> Synthesis:
    """Execute ``p`` with ``reasoner``: map, combine as needed, final JSON answer, checked."""
    r = _Run(p, reasoner, truncated=p.truncated)
    if p.single is not None:
        final = p.single
    else:
        notes = [r.note(_label(w.start, w.end), w.messages) for w in p.windows]
        while True:
            final = _final(p, _join(notes))
            if count_messages(final, p.model) <= p.prompt_budget:
                break
            notes = _combine(r, notes)
    text = _final_answer(r, final)
    answer, notes, incomplete = _checked_answer(r, text)
    moments, dropped_m = validate_timestamps(answer.key_moments, p.spans, p.tolerance)
    chapters, dropped_c = validate_timestamps(answer.chapters, p.spans, p.tolerance)
    usages = [c.usage for c in r.completions]
    return Synthesis(
        summary=answer.summary,
        key_moments=tuple(moments),
        chapters=tuple(chapters),
        topics=answer.topics,
        usage=Usage(sum(u.prompt_tokens for u in usages),
                    sum(u.completion_tokens for u in usages),
                    any(u.estimated for u in usages)),
        calls=len(r.completions),
        windows=1 if p.single is not None else len(p.windows),
        dropped_timestamps=dropped_m + dropped_c + answer.unreadable_stamps,
        structured=answer.structured,
        truncated=r.truncated,
        messages=r.sent,
        notes=notes,
        incomplete=incomplete,
    )


def _final_answer(r: _Run, final: list[Message]) -> str:
    """The final answer's text; one that is no answer (``answers.no_answer``) is asked for
    again, and after ``ANSWER_ATTEMPTS`` the step fails without an answer."""
    why = ""
    for attempt in range(ANSWER_ATTEMPTS):
        text = r.call(final, r.plan.max_output_tokens, True)
        why = no_answer(text, r.completions[-1].finish_reason) or ""
        if not why:
            return text
        if attempt + 1 < ANSWER_ATTEMPTS:
            log.warning("%s: the LLM sent no answer (%s): asking again",
                        r.plan.variables["title"], why)
    raise ReasonerError(
        f"model {r.plan.model!r} sent a response without an answer {ANSWER_ATTEMPTS} times: "
        f"{why}",
        hint="a model too small or random for the task, or an output budget too small: try "
        "another --llm-model, or raise --llm-max-output-tokens and --context-tokens")


def _checked_answer(r: _Run, text: str) -> tuple[Any, tuple[str, ...], str | None]:
    """The final answer read and capped, the notes on it, and why it is incomplete."""
    p, notes = r.plan, []
    limit = p.max_output_tokens * MAX_CHARS_PER_TOKEN
    answer, cut = cap_answer(parse_answer(text), limit)
    if cut or len(text) > limit:
        r.truncated += 1
        notes.append(f"The LLM's answer was {len(text)} characters, more than its output "
                     f"budget allows ({limit}): it was cut.")
        log.warning("%s: the LLM's answer was cut to %d characters", p.variables["title"],
                    limit)
    incomplete = None
    if r.completions and r.completions[-1].finish_reason == FILTERED:
        incomplete = "the server's content filter stopped the answer (finish_reason " \
            "content_filter): the summary may be incomplete"
        notes.append(f"Incomplete: {incomplete}.")
        log.warning("%s: %s", p.variables["title"], incomplete)
    return answer, tuple(notes), incomplete


def _join(notes: Sequence[tuple[str, str]]) -> str:
    return "\n\n".join(f"[{window}]\n{text}" for window, text in notes)


def _combine(r: _Run, notes: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """One level of the reduce: consecutive notes grouped into requests that fit, condensed."""
    p = r.plan
    groups: list[list[tuple[str, str]]] = []
    for note in notes:
        if groups and count_messages(_group_request(p, [*groups[-1], note]), p.model) \
                <= p.prompt_budget:
            groups[-1].append(note)
        else:
            groups.append([note])
    if len(groups) == len(notes):  # no two notes fit together: guarded against in plan()
        raise ConfigError("partial summaries do not fit the combining request", hint=HINT)
    return [r.note(_span(g), _group_request(p, g)) if len(g) > 1 else g[0] for g in groups]


def _span(group: Sequence[tuple[str, str]]) -> str:
    return f"{group[0][0].split('-')[0]}-{group[-1][0].split('-')[-1]}"


def _group_request(p: Plan, group: Sequence[tuple[str, str]]) -> list[Message]:
    return _partial(p, _span(group), _join(group))


def complete_with(reasoner: Reasoner, messages: list[Message], max_output_tokens: int,
              json_mode: bool) -> Completion:
    """``complete(messages, max_output_tokens=, json_mode=)`` where the reasoner takes them."""
    method: Any = reasoner.complete
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):  # no signature to read: try, then fall back
        try:
            return method(messages, max_output_tokens=max_output_tokens, json_mode=json_mode)
        except TypeError:
            return method(messages)
    takes_all = any(v.kind is inspect.Parameter.VAR_KEYWORD for v in params.values())
    if takes_all or {"max_output_tokens", "json_mode"} <= params.keys():
        return method(messages, max_output_tokens=max_output_tokens, json_mode=json_mode)
    return method(messages)
