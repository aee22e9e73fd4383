"""Questions across the whole catalog: ``ask_library(question)``.

The passages most relevant to the question (FTS5 bm25 over summaries, chapters, key moments,
captions, speech and on-screen text; the query is built from the question's words, never
taken as FTS syntax) are fenced as untrusted data and sent in one reasoning call, or, when they
exceed the context, condensed group by group into notes first (``prompts/library_partial.md``)
and answered from the notes. The answer cites ``file`` + ``mm:ss``; every citation is checked
against the passages sent, and one that names a file or a time they did not hold is dropped
and counted. A library with no matching passage is answered so without calling the LLM.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import prompting
from ..errors import ConfigError, ReasonerError
from ..options import Options
from ..reasoning.answers import parse_timestamp
from ..reasoning.base import Reasoner, Usage
from ..reasoning.synthesis import answer_reserve, complete_with
from ..reasoning.tokens import count_messages, default_context_tokens, truncate_to_tokens
from ..reasoning.untrusted import clean_text, fence, new_nonce
from ..timeline import format_timestamp
from .ledger import Ledger
from .retrieval import Passage, retrieve

SYSTEM, ASK, PARTIAL = "library_system.md", "library.md", "library_partial.md"
NO_MATCH = "Nothing in the library matches the question's words."
# How far (seconds) a cited time may be from a passage's time and still point at it.
TOLERANCE_S = 2.0
# Tokens asked for the answer (an answer of a few sentences and its citations), at most half
# a small context.
LIBRARY_ANSWER_TOKENS = 1024
_LABELS = {"transcript": "say", "screen": "read"}
_CITE_MARK = re.compile(r"\s*\[(\d+)\]")

__all__ = ["Citation", "LibraryAnswer", "Passage", "ask_library", "retrieve"]


@dataclass(frozen=True)
class Citation:
    # The file, as recorded in the ledger (absolute path).
    path: str
    # Seconds into it; None for a whole-file summary.
    t: float | None


@dataclass(frozen=True)
class LibraryAnswer:
    question: str
    # The LLM's answer ([n] marks refer to ``citations``); None on a dry run.
    answer: str | None
    # Checked citations, in the answer's order.
    citations: tuple[Citation, ...]
    # The passages retrieved and sent, best first.
    passages: tuple[Passage, ...]
    # Citations of a file or time the passages did not hold: dropped.
    dropped_citations: int = 0
    usage: Usage = field(default_factory=lambda: Usage(0, 0))
    calls: int = 0
    # With dry_run: the requests that would be sent, each with its token count.
    requests: tuple[dict[str, Any], ...] = ()


class _Labels:
    """Short file names for the prompt (the base name; the full path where two collide)."""

    def __init__(self, passages: Sequence[Passage]) -> None:
        paths = sorted({p.path for p in passages})
        names = [Path(p).name for p in paths]
        self.by_path = {p: (Path(p).name if names.count(Path(p).name) == 1 else p)
                        for p in paths}
        self.by_label = {label.lower(): path for path, label in self.by_path.items()}

    def line(self, p: Passage) -> str:
        stamp = "whole file" if p.t is None else format_timestamp(p.t)
        kind = _LABELS.get(p.kind, p.kind)
        return f"[{self.by_path[p.path]} @ {stamp}] {kind}: {' '.join(p.text.split())}"


def ask_library(question: str, *, limit: int = 20, include: Sequence[str] = (),
                ledger: Ledger | Path | str | None = None, reasoner: Reasoner | None = None,
                dry_run: bool = False, options: Options | None = None,
                **option_values: Any) -> LibraryAnswer:
    """Answer ``question`` from the ``limit`` most relevant passages of the catalog (only
    files matching an ``include`` glob), citing file and time. Keyword options are the fields
    of ``Options`` (the LLM, ``context_tokens``, ``prompts_dir``...)."""
    o = Options.from_kwargs(options, **option_values)
    passages = retrieve(question, limit=limit, include=include, ledger=ledger)
    if not passages:
        return LibraryAnswer(question, NO_MATCH, (), ())
    if reasoner is None and not dry_run:
        from ..pipeline.reasoning_step import build_reasoner

        reasoner = build_reasoner(o)
    model = reasoner.model_id if reasoner is not None else o.llm_model
    context = o.context_tokens or default_context_tokens(model)
    output = o.llm_max_output_tokens or answer_reserve(context, LIBRARY_ANSWER_TOKENS)
    ask = _Ask(question, passages, model, context - output, output, o.prompts_dir)
    if dry_run or reasoner is None:
        return LibraryAnswer(question, None, (), tuple(passages), requests=tuple(
            {"tokens": count_messages(m, model), "messages": m} for m in ask.requests()))
    return ask.run(reasoner)


@dataclass
class _Ask:
    question: str
    passages: list[Passage]
    model: str
    budget: int
    output: int
    prompts_dir: Path | None
    nonce: str = field(default_factory=new_nonce)
    reasoner: Reasoner | None = None
    calls: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.labels = _Labels(self.passages)
        self.system = {"role": "system",
                       "content": prompting.load_prompt(SYSTEM, self.prompts_dir)}

    def _final(self, body: str, count: int) -> list[dict[str, str]]:
        text = prompting.render_prompt(ASK, {"question": clean_text(self.question),
                                             "count": count, "passages": fence(body, self.nonce)},
                                       self.prompts_dir)
        return [self.system, {"role": "user", "content": text}]

    def _partial(self, lines: Sequence[str], part: int, parts: int) -> list[dict[str, str]]:
        text = prompting.render_prompt(PARTIAL, {
            "question": clean_text(self.question), "part": part, "parts": parts,
            "passages": fence("\n".join(lines), self.nonce)}, self.prompts_dir)
        return [self.system, {"role": "user", "content": text}]

    def _fits(self, messages: list[dict[str, str]]) -> bool:
        return count_messages(messages, self.model) <= self.budget

    def groups(self) -> list[list[str]]:
        """The passage lines in groups whose partial request fits (a line too long alone is
        cut to fit)."""
        groups: list[list[str]] = [[]]
        for line in (self.labels.line(p) for p in self.passages):
            if groups[-1] and not self._fits(self._partial([*groups[-1], line], 1, 1)):
                groups.append([])
            if not groups[-1] and not self._fits(self._partial([line], 1, 1)):
                room = self.budget - count_messages(self._partial([""], 1, 1), self.model)
                if room < 16:
                    raise ConfigError("the context is too small for one library passage",
                                      stage="reason", hint="raise --context-tokens")
                line = truncate_to_tokens(line, room - 8, self.model)
            groups[-1].append(line)
        return groups

    def plan(self) -> tuple[list[dict[str, str]] | None, list[list[dict[str, str]]]]:
        """The one request that answers from all the passages, when it fits; else None and
        the requests that condense them group by group."""
        lines = [self.labels.line(p) for p in self.passages]
        single = self._final("\n".join(lines), len(lines))
        if self._fits(single):
            return single, []
        groups = self.groups()
        return None, [self._partial(g, i, len(groups)) for i, g in enumerate(groups, 1)]

    def requests(self) -> list[list[dict[str, str]]]:
        single, partials = self.plan()
        return [single] if single is not None else partials

    def call(self, messages: list[dict[str, str]], output: int, json_mode: bool) -> str:
        assert self.reasoner is not None
        completion = complete_with(self.reasoner, messages, output, json_mode)
        self.calls.append(completion)
        return completion.text

    def run(self, reasoner: Reasoner) -> LibraryAnswer:
        self.reasoner = reasoner
        single, partials = self.plan()
        final = single if single is not None else self._from_notes(partials)
        text = self.call(final, self.output, True)
        answer, citations, dropped = self._checked(text)
        usages = [c.usage for c in self.calls]
        return LibraryAnswer(
            self.question, answer, citations, tuple(self.passages), dropped,
            Usage(sum(u.prompt_tokens for u in usages), sum(u.completion_tokens for u in usages),
                  any(u.estimated for u in usages)), len(self.calls))

    def _from_notes(self, requests: list[list[dict[str, str]]]) -> list[dict[str, str]]:
        share = max(32, self.output // 2)
        notes = [clean_text(self.call(r, share, False)).strip() for r in requests]
        while True:
            final = self._final("\n\n".join(notes), len(self.passages))
            if self._fits(final) or share <= 32:
                break
            share //= 2
            notes = [truncate_to_tokens(n, share, self.model) for n in notes]
        if not self._fits(final):
            raise ConfigError("the notes on the library passages do not fit the context",
                              stage="reason", hint="raise --context-tokens or lower --limit")
        return final

    def _checked(self, text: str) -> tuple[str, tuple[Citation, ...], int]:
        """The answer text with the marks of dropped citations removed, the citations that
        point at a passage sent, and how many did not."""
        obj = _json_object(text)
        if obj is None:
            if not text.strip():
                raise ReasonerError("the LLM gave no answer", stage="reason",
                                    hint="retry, or try another --llm-model")
            return clean_text(text).strip(), (), 0
        answer = clean_text(str(obj.get("answer") or "")).strip()
        raw = obj.get("citations") if isinstance(obj.get("citations"), list) else []
        kept: list[Citation] = []
        renumber: dict[int, int] = {}
        for n, item in enumerate(raw, 1):
            citation = self._citation(item)
            if citation is not None:
                if citation not in kept:
                    kept.append(citation)
                renumber[n] = kept.index(citation) + 1
        answer = _CITE_MARK.sub(
            lambda m: f" [{renumber[int(m.group(1))]}]" if int(m.group(1)) in renumber else "",
            answer)
        return answer, tuple(kept), len(raw) - len(renumber)

    def _citation(self, item: Any) -> Citation | None:
        if not isinstance(item, dict):
            return None
        path = self.labels.by_label.get(str(item.get("file") or "").strip().lower())
        if path is None:
            return None
        raw_t = item.get("t")
        t = None if raw_t in (None, "", "whole file") else parse_timestamp(raw_t)
        if raw_t not in (None, "", "whole file") and t is None:
            return None
        for p in self.passages:
            if p.path != path:
                continue
            if t is None and p.t is None:
                return Citation(path, None)
            if t is not None and p.t is not None and abs(p.t - t) <= TOLERANCE_S + 1:
                return Citation(path, p.t if abs(p.t - t) > 1 else t)
        return None


def _json_object(text: str) -> dict[str, Any] | None:
    decoder = json.JSONDecoder()
    for m in re.finditer(r"\{", text):
        try:
            obj, _ = decoder.raw_decode(text, m.start())
        except (ValueError, RecursionError):
            continue
        if isinstance(obj, dict) and "answer" in obj:
            return obj
    return None
