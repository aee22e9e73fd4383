"""The reasoning step of one file: the timeline planned into requests within the model's
context (only planned on a dry run), run, re-planned once when the server names a smaller
context, and what it came to (``Reasoned``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ReasonerContextError, ReasonerError
from ..model_refs import model_id_of
from ..options import Options
from ..reasoning import synthesis
from ..reasoning.base import DEFAULT_MAX_OUTPUT_TOKENS, Reasoner
from ..reasoning.registry import create_reasoner
from ..reasoning.request_shape import REASONING_MAX_OUTPUT_TOKENS, is_reasoning_model
from ..reasoning.synthesis import Synthesis
from ..reasoning.tokens import count_messages, default_context_tokens, is_exact
from ..timeline import TimelineEntry
from ..transcription.base import Segment

Progress = Callable[[str, int, "int | None"], None]


@dataclass(frozen=True)
class Reasoned:
    """What the reasoning step came to: its synthesis, or the requests of a dry run, or the
    error it failed with; its facts for ``Result.reasoning`` and its seconds."""

    made: Synthesis | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    requests: tuple[dict[str, Any], ...] = ()
    failure: ReasonerError | None = None
    seconds: float | None = None


def build_reasoner(o: Options) -> Reasoner:
    """The reasoning backend the options name (a server client or a local model)."""
    return create_reasoner(
        o.reasoner, model=o.llm_model, base_url=o.base_url, api_key=o.api_key,
        timeout=o.timeout, max_retries=o.llm_max_retries,
        max_output_tokens=o.llm_max_output_tokens, device=o.device,
    )


def output_budget(o: Options, reasoner: Reasoner | None, model: str, context: int) -> int:
    """Tokens reserved for each answer: the option as given, else what the reasoner will ask
    for, within what the context leaves (``synthesis.answer_reserve``)."""
    if o.llm_max_output_tokens:
        return o.llm_max_output_tokens
    requested = REASONING_MAX_OUTPUT_TOKENS if is_reasoning_model(model) else \
        DEFAULT_MAX_OUTPUT_TOKENS
    for attr in ("max_output_tokens", "max_new_tokens"):
        value = getattr(reasoner, attr, None)
        if isinstance(value, int) and value > 0:
            requested = value
            break
    return synthesis.answer_reserve(context, requested)


def explain(failure: ReasonerError, path: str) -> None:
    """Name the file and say that nothing else is lost."""
    failure.path = failure.path or path
    failure.hint = (f"{failure.hint}; " if failure.hint else "") + (
        "captions and transcript are kept (cached and written): rerun the same command "
        "to redo only the reasoning step")


def reason(o: Options, reasoner: Reasoner | None, progress: Progress, *, title: str,
           entries: list[TimelineEntry], duration: float | None, notes: list[str],
           segments: tuple[Segment, ...]) -> Reasoned:
    """The reasoning step: planned (and only planned on a dry run or without a reasoner),
    then run."""
    if reasoner is None and not o.dry_run:
        return Reasoned()
    model = model_id_of(reasoner) if reasoner is not None else o.llm_model
    context = o.context_tokens or default_context_tokens(model)

    def make_plan(context: int, output: int) -> synthesis.Plan:
        return synthesis.plan(
            entries, title=title, duration=duration, notes=notes, focus=o.focus,
            model=model, context_tokens=context, max_output_tokens=output,
            prompts_dir=o.prompts_dir, speech_spans=[(s.start, s.end) for s in segments],
            tolerance=o.interval if o.sampling == "interval" else o.min_scene_gap,
        )

    the_plan = make_plan(context, output_budget(o, reasoner, model, context))
    facts: dict[str, Any] = {"context_tokens": context, "tokens_exact": is_exact(model),
                             "windows": len(the_plan.requests)}
    if o.dry_run or reasoner is None:
        return Reasoned(facts=facts, requests=tuple(
            {"tokens": count_messages(m, model), "messages": m} for m in the_plan.requests))
    t0 = time.perf_counter()
    progress("reason", 0, 1)
    try:
        try:
            made = synthesis.run(the_plan, reasoner)
        except ReasonerContextError as exc:
            the_plan = synthesis.refit(the_plan, exc, make_plan, title)
            facts.update(context_tokens=exc.limit, windows=len(the_plan.requests))
            if the_plan.token_scale != 1.0:
                facts.update(server_token_ratio=round(the_plan.token_scale, 2))
            made = synthesis.run(the_plan, reasoner)
    except ReasonerError as exc:
        return Reasoned(facts=facts, failure=exc, seconds=time.perf_counter() - t0)
    finally:
        progress("reason", 1, 1)
    facts.update(calls=made.calls, windows=made.windows,
                 dropped_timestamps=made.dropped_timestamps, structured=made.structured,
                 truncated=made.truncated)
    # An answer the server cut short is kept, but it is no clean success: never "done".
    failure = ReasonerError(made.incomplete, stage="reason") if made.incomplete else None
    return Reasoned(made=made, facts=facts, failure=failure,
                    seconds=time.perf_counter() - t0)
