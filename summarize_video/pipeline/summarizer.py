"""The caption-then-reason pipeline: probe, sample, caption, transcribe, merge, reason.

``Summarizer`` holds the stage backends, so models load once and serve many files.
``summarize()`` is the one-call form for a single file.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .. import prompting
from .._version import __version__
from ..captioning.base import Captioner
from ..captioning.registry import create_captioner
from ..errors import InputError, ReasonerContextError, ReasonerError
from ..inputs.urls import fetch, is_url
from ..limits import Limits
from ..media.jobs import probe_file
from ..media.probe import MediaInfo
from ..media.safe_open import file_state
from ..ocr.base import ScreenReader
from ..ocr.registry import create_reader
from ..options import Options
from ..reasoning import synthesis
from ..reasoning.base import DEFAULT_MAX_OUTPUT_TOKENS, Reasoner, Usage
from ..reasoning.registry import create_reasoner
from ..reasoning.request_shape import REASONING_MAX_OUTPUT_TOKENS, is_reasoning_model
from ..reasoning.synthesis import Synthesis
from ..reasoning.tokens import count_messages, default_context_tokens, is_exact
from ..redaction import redact_url
from ..timeline import Caption, ScreenText, TimelineEntry, merge, render
from ..transcription.base import Segment, Transcriber, Transcript
from ..transcription.registry import create_transcriber
from .cache import Cache, hash_file
from .cost import cost_block, load_prices
from .fingerprint import Backends, caption_key, result_settings, transcript_key
from .notes import media_notes
from .provenance import build_provenance
from .results import Result, VideoInfo
from .screen import screen_step
from .stages import (
    Staged,
    captions_from_json,
    captions_to_json,
    run_captions,
    run_transcript,
    transcript_from_json,
    transcript_to_json,
)

log = logging.getLogger(__name__)

# progress(stage, done, total): total is None when unknown.
ProgressCallback = Callable[[str, int, "int | None"], None]

def _no_progress(stage: str, done: int, total: int | None) -> None:
    return None


class Summarizer:
    """Summarizes files with one set of loaded backends.

    Backends not passed in are created from ``options`` by name from the registries; models
    load on first use and are kept for the next file. The reasoner is created first, so a
    missing API key is reported before any model loads. Captions and transcripts are kept in
    the cache (unless ``options.no_cache``) and reused whenever their inputs are the same.
    """

    def __init__(
        self,
        options: Options | None = None,
        *,
        captioner: Captioner | None = None,
        transcriber: Transcriber | None = None,
        reasoner: Reasoner | None = None,
        progress: ProgressCallback | None = None,
        cache: Cache | None = None,
        reader: ScreenReader | None = None,
    ) -> None:
        self.options = options or Options()
        self.progress = progress or _no_progress
        o = self.options
        # Fail fast on configuration: names, prompts and the LLM client before any model loads.
        self._names = Backends.of(o)
        for name in (prompting.SYSTEM, prompting.SUMMARY, synthesis.PARTIAL):
            prompting.load_prompt(name, o.prompts_dir)
        self._caption_prompt = prompting.load_prompt(prompting.CAPTION, o.prompts_dir).strip()
        self._context_prompt = prompting.load_prompt(prompting.CAPTION_CONTEXT, o.prompts_dir)
        self.prices = load_prices(o.prices_file)
        self.cache: Cache | None = None
        if not o.no_cache:
            self.cache = cache or Cache(o.cache_dir)
        # The backends the caller passed in as objects (not made from the options).
        self.given_backends = tuple(name for name, backend in (
            ("captioner", captioner), ("transcriber", transcriber), ("reasoner", reasoner))
            if backend is not None)
        self.reasoner: Reasoner | None = None
        if not (o.no_llm or o.dry_run):
            self.reasoner = reasoner or build_reasoner(o)
        self._captioner = captioner
        self._transcriber = transcriber
        self._reader = reader

    @property
    def captioner(self) -> Captioner:
        if self._captioner is None:
            self._captioner = create_captioner(self._names.captioner, self.options)
        return self._captioner

    @property
    def transcriber(self) -> Transcriber:
        if self._transcriber is None:
            self._transcriber = create_transcriber(self._names.transcriber, self.options)
        return self._transcriber

    @property
    def reader(self) -> ScreenReader | None:
        """The screen reader, or None when no text is read (``--ocr``)."""
        if self._reader is None and self._names.reader is not None:
            self._reader = create_reader(self.options.ocr, self.options)
        return self._reader

    def backends(self) -> Backends:
        """The backends' names and, once built, their models and the reasoner's."""
        return replace(
            self._names,
            caption_model=getattr(self._captioner, "model_id", None),
            whisper_model=getattr(self._transcriber, "model_id", None),
            llm_model=self.reasoner.model_id if self.reasoner is not None else None,
            llm_backend=getattr(self.reasoner, "backend", None),
        )

    def settings(self) -> dict[str, Any]:
        """The result's ``settings`` block, with the models the backends resolved."""
        return result_settings(self.options, self.backends())

    def summarize(self, path: str | Path, *, source: str | None = None) -> Result:
        """Summarize a file, or an ``http(s)://`` URL (downloaded, then removed). ``source``:
        the URL an already downloaded ``path`` came from, reported as the input's path.
        A failed reasoning step is raised (``run`` returns it in the result instead)."""
        result = self.run(path, source=source)
        if result.failure is not None:
            raise result.failure
        return result

    def run(self, path: str | Path, *, source: str | None = None) -> Result:
        """``summarize``, but a failed reasoning step gives a result without a summary whose
        ``failure`` says why (its captions and transcript are cached: a rerun redoes only the
        reasoning)."""
        started = time.perf_counter()
        if source is None and is_url(path):
            cap = self.options.max_download_mb
            with fetch(str(path), max_bytes=cap * 10**6 if cap else None,
                       progress=self.progress) as local:
                return self._run(local, redact_url(str(path).strip()),
                                 {"download": time.perf_counter() - started}, started)
        return self._run(path, redact_url(source) if source else None, {}, started)

    def _run(self, path: str | Path, source: str | None, timings: dict[str, float],
             started: float) -> Result:
        o = self.options
        t0 = time.perf_counter()
        self.progress("probe", 0, 1)
        before = file_state(path)
        info = probe_file(path, Limits.from_options(o), o.decode_timeout or None)
        file_hash = (self.cache.file_hash(path) if self.cache is not None and source is None
                     else hash_file(path))
        timings["probe"] = time.perf_counter() - t0
        self.progress("probe", 1, 1)
        captions, transcript, screen = self._model_stages(path, info, file_hash)
        if file_state(path) != before:
            raise InputError("the file changed while it was being read (still being written "
                             "or copied?)", path=source or str(path), stage="read",
                             hint="retry once the recording or copy has finished")
        timings.update(captions.timings)
        timings.update(transcript.timings)
        timings.update(screen.timings)
        shown = [c if o.thumbnails else replace(c, thumbnail=None) for c in captions.value]
        segments = transcript.value.segments
        duration = info.duration_s
        if duration is None:
            ends = [c.until or c.t for c in shown] + [s.end for s in segments]
            duration = max(ends) if ends else None
        notes = media_notes(info, transcript.value)
        entries = merge(shown, segments, screen.value)
        reasoned = self._reason(Path(path).name, entries, duration, notes, segments)
        if reasoned.seconds is not None:
            timings["reason"] = reasoned.seconds
        if reasoned.made is not None:
            notes.extend(reasoned.made.notes)
        if reasoned.failure is not None:
            notes.append(f"The reasoning step failed: {reasoned.failure.message}")
            self._explain(reasoned.failure, source or str(path))
        timings["total"] = time.perf_counter() - started
        return self._result(
            path, source, file_hash, info, duration, shown, transcript.value, notes,
            render(entries), reasoned, timings, captions.counts,
            {name: staged.cache for name, staged in (("captions", captions),
                                                     ("transcript", transcript),
                                                     ("screen_text", screen))
             if staged.cache is not None}, screen.value)

    def _model_stages(self, path: str | Path, info: MediaInfo, file_hash: str
                      ) -> tuple[Staged[list[Caption]], Staged[Transcript],
                                 Staged[list[ScreenText]]]:
        """Captions, transcript and text on screen, side by side (the transcript first when
        captions are conditioned on speech)."""
        captions: Staged[list[Caption]] = Staged([])
        transcript: Staged[Transcript] = Staged(Transcript.empty())
        screen: Staged[list[ScreenText]] = Staged([])
        o = self.options
        speech_first = o.caption_context == "speech" and info.has_audio and info.has_video
        reader = self.reader if info.has_video else None
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="stage") as pool:
            reading = None
            if reader is not None:
                reading = pool.submit(screen_step, path, info, o, reader, self.cache,
                                      file_hash, self.progress)
            pending = None
            if info.has_audio:
                pending = pool.submit(self._transcript, path, file_hash)
            if speech_first and pending is not None:
                transcript, pending = pending.result(), None
            if info.has_video:
                captions = self._captions(path, info, file_hash,
                                          transcript.value if speech_first else None)
            if pending is not None:
                transcript = pending.result()
            if reading is not None:
                screen = reading.result()
        return captions, transcript, screen

    def _reason(self, title: str, entries: list[TimelineEntry], duration: float | None,
                notes: list[str], segments: tuple[Segment, ...]) -> Reasoned:
        """The reasoning step: planned (and only planned on a dry run), then run."""
        o = self.options
        if self.reasoner is None and not o.dry_run:
            return Reasoned()
        model = self.reasoner.model_id if self.reasoner is not None else o.llm_model
        context = o.context_tokens or default_context_tokens(model)

        def make_plan(context: int, output: int) -> synthesis.Plan:
            return synthesis.plan(
                entries, title=title, duration=duration, notes=notes, focus=o.focus,
                model=model, context_tokens=context, max_output_tokens=output,
                prompts_dir=o.prompts_dir, speech_spans=[(s.start, s.end) for s in segments],
                tolerance=o.interval if o.sampling == "interval" else o.min_scene_gap,
            )

        the_plan = make_plan(context, self._output_budget(model))
        facts: dict[str, Any] = {"context_tokens": context, "tokens_exact": is_exact(model),
                                 "windows": len(the_plan.requests)}
        if o.dry_run or self.reasoner is None:
            return Reasoned(facts=facts, requests=tuple(
                {"tokens": count_messages(m, model), "messages": m} for m in the_plan.requests))
        t0 = time.perf_counter()
        self.progress("reason", 0, 1)
        try:
            try:
                made = synthesis.run(the_plan, self.reasoner)
            except ReasonerContextError as exc:
                the_plan = synthesis.refit(the_plan, exc, make_plan, title)
                facts.update(context_tokens=the_plan.context_tokens,
                             windows=len(the_plan.requests))
                made = synthesis.run(the_plan, self.reasoner)
        except ReasonerError as exc:
            return Reasoned(facts=facts, failure=exc, seconds=time.perf_counter() - t0)
        finally:
            self.progress("reason", 1, 1)
        facts.update(calls=made.calls, windows=made.windows,
                     dropped_timestamps=made.dropped_timestamps, structured=made.structured,
                     truncated=made.truncated)
        # An answer the server cut short is kept, but it is no clean success: never "done".
        failure = ReasonerError(made.incomplete, stage="reason") if made.incomplete else None
        return Reasoned(made=made, facts=facts, failure=failure,
                        seconds=time.perf_counter() - t0)

    @staticmethod
    def _explain(failure: ReasonerError, path: str) -> None:
        """Name the file and say that nothing else is lost."""
        failure.path = failure.path or path
        failure.hint = (f"{failure.hint}; " if failure.hint else "") + (
            "captions and transcript are kept (cached and written): rerun the same command "
            "to redo only the reasoning step")

    def _result(self, path: str | Path, source: str | None, file_hash: str, info: MediaInfo,
                duration: float | None, captions: list[Caption], transcript: Transcript,
                notes: list[str], timeline: str, reasoned: Reasoned,
                timings: dict[str, float], counts: dict[str, int], cache_use: dict[str, str],
                screen: list[ScreenText]) -> Result:
        o, made, segments = self.options, reasoned.made, transcript.segments
        usage = made.usage if made else Usage(prompt_tokens=0, completion_tokens=0)
        return Result(
            video=VideoInfo(
                path=source or str(path), duration_s=duration, width=info.width,
                height=info.height, fps=info.fps, has_audio=info.has_audio,
                has_video=info.has_video, rotation=info.rotation,
            ),
            settings=self.settings(),
            captions=tuple(captions),
            transcript=segments,
            screen_text=tuple(screen),
            language=transcript.language if segments else None,
            speech={
                "language_detected": bool(segments) and transcript.language_detected,
                "dropped_segments": transcript.dropped,
                "flags": list(transcript.flags),
            } if info.has_audio else {},
            summary=made.summary if made else None,
            usage=usage,
            key_moments=made.key_moments if made else (),
            chapters=made.chapters if made else (),
            topics=made.topics if made else (),
            reasoning=reasoned.facts,
            requests=reasoned.requests,
            cost=cost_block(
                model=self.reasoner.model_id if self.reasoner else "",
                prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                usage_estimated=usage.estimated, duration_s=duration, interval_s=o.interval,
                width=info.width, height=info.height, has_video=info.has_video,
                has_audio=info.has_audio, prices=self.prices),
            timings_s=timings,
            notes=tuple(notes),
            frames=counts,
            cache=cache_use,
            timeline=timeline,
            version=__version__,
            provenance=build_provenance(
                o, path=path, source=source, file_hash=file_hash, reasoning=reasoned.facts,
                captioner=self._captioner if info.has_video else None,
                transcriber=self._transcriber if info.has_audio else None,
                reasoner=self.reasoner, reader=self._reader if info.has_video else None,
                screen=bool(screen)),
            failure=reasoned.failure,
        )

    def _captions(self, path: str | Path, info: MediaInfo, file_hash: str,
                  transcript: Transcript | None) -> Staged[list[Caption]]:
        o = self.options
        captioner = self.captioner
        params = caption_key(o, captioner, self._caption_prompt, self._context_prompt,
                             transcript_to_json(transcript) if transcript is not None else None)
        if self.cache is not None:
            hit = self.cache.get("captions", file_hash, params)
            if hit is not None and o.thumbnails and "html" in o.formats and hit["captions"] \
                    and not any(row[3:] and row[3] for row in hit["captions"]):
                hit = None  # cached before thumbnails: the HTML report wants them, recompute
            if hit is not None:
                captions, stored = captions_from_json(hit)
                return Staged(captions, counts=stored, cache="hit")
        made = run_captions(path, info, o, captioner, self.progress, transcript)
        if self.cache is None:
            return made
        self.cache.put("captions", file_hash, params, captions_to_json(made.value, made.counts))
        return replace(made, cache="miss")

    def _transcript(self, path: str | Path, file_hash: str) -> Staged[Transcript]:
        transcriber = self.transcriber
        params = transcript_key(self.options, transcriber)
        if self.cache is not None:
            hit = self.cache.get("transcript", file_hash, params)
            if hit is not None:
                return Staged(transcript_from_json(hit), cache="hit")
        made = run_transcript(path, transcriber, self.progress,
                              self.options.decode_timeout or None)
        if self.cache is None:
            return made
        self.cache.put("transcript", file_hash, params, transcript_to_json(made.value))
        return replace(made, cache="miss")

    def _output_budget(self, model: str) -> int:
        """Tokens reserved for each answer: the option, else what the reasoner will ask for."""
        if self.options.llm_max_output_tokens:
            return self.options.llm_max_output_tokens
        for attr in ("max_output_tokens", "max_new_tokens"):
            value = getattr(self.reasoner, attr, None)
            if isinstance(value, int) and value > 0:
                return value
        return REASONING_MAX_OUTPUT_TOKENS if is_reasoning_model(model) else \
            DEFAULT_MAX_OUTPUT_TOKENS


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


def summarize(
    path: str | Path,
    *,
    captioner: Captioner | None = None,
    transcriber: Transcriber | None = None,
    reasoner: Reasoner | None = None,
    progress: ProgressCallback | None = None,
    cache: Cache | None = None,
    options: Options | None = None,
    **option_values: Any,
) -> Result:
    """Summarize one video (or audio) file. Keyword options are the fields of ``Options``."""
    opts = Options.from_kwargs(options, **option_values)
    return Summarizer(opts, captioner=captioner, transcriber=transcriber, reasoner=reasoner,
                      progress=progress, cache=cache).summarize(path)


def ask(
    path: str | Path,
    question: str,
    *,
    captioner: Captioner | None = None,
    transcriber: Transcriber | None = None,
    reasoner: Reasoner | None = None,
    progress: ProgressCallback | None = None,
    cache: Cache | None = None,
    options: Options | None = None,
    **option_values: Any,
) -> Result:
    """Answer ``question`` about one file: a summary focused on it, from cached captions and
    transcript when an earlier run made them. ``Result.summary`` holds the answer."""
    opts = Options.from_kwargs(options, **option_values).replace(focus=question, no_llm=False)
    return summarize(path, captioner=captioner, transcriber=transcriber, reasoner=reasoner,
                     progress=progress, cache=cache, options=opts)

