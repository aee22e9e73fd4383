"""The caption-then-reason pipeline: probe, sample, caption, transcribe, merge, reason.

``Summarizer`` holds the stage backends, so models load once and serve many files.
``summarize()`` is the one-call form for a single file.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from .. import prompting
from .._version import __version__
from ..captioning.base import Captioner
from ..captioning.registry import create_captioner
from ..devices import available_cpus
from ..errors import InputError
from ..inputs.urls import fetch, is_url
from ..limits import Limits
from ..media.jobs import probe_file
from ..media.probe import MediaInfo
from ..media.safe_open import file_state
from ..model_refs import model_id_of
from ..ocr.base import ScreenReader
from ..ocr.registry import create_reader
from ..options import Options
from ..reasoning import synthesis
from ..reasoning.base import Reasoner, Usage
from ..redaction import redact_url
from ..timeline import Caption, ScreenText, TimelineEntry, merge, render
from ..transcription.base import Segment, Transcriber, Transcript
from ..transcription.registry import create_transcriber
from .cache import Cache, hash_file
from .cached_steps import caption_step, transcript_step
from .concurrency import (
    SCENE_FRAME_EVERY_S,
    ThreadSplit,
    expected_work,
    import_first,
    split_threads,
)
from .cost import cost_block, load_prices
from .fingerprint import Backends, result_settings
from .model_check import check_models
from .notes import media_notes
from .provenance import build_provenance
from .reasoning_step import Reasoned, build_reasoner, explain, reason
from .results import Result, VideoInfo
from .screen import screen_step
from .speech_source import Heard, from_asr
from .speech_source import Plan as SpeechPlan
from .speech_source import plan as plan_speech
from .speech_source import read as read_subtitles
from .stages import Staged

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
        self._split: ThreadSplit | None = None
        self._making = threading.Lock()  # captions and transcript start in two threads
        self._made = False
        self._checked: set[str] = set()  # the stages whose models were checked
        self._reader = reader

    @property
    def captioner(self) -> Captioner:
        self._make_backends()
        assert self._captioner is not None
        return self._captioner

    @property
    def transcriber(self) -> Transcriber:
        self._make_backends()
        assert self._transcriber is not None
        return self._transcriber

    def _make_backends(self) -> None:
        """Make the captioner and transcriber not passed in (no model loads yet; the
        transcriber told its share of the threads when it fixes them at loading)."""
        with self._making:
            if self._made:
                return
            if self._captioner is None:
                self._captioner = create_captioner(self._names.captioner, self.options)
            if self._transcriber is None:
                self._transcriber = create_transcriber(self._names.transcriber, self.options)
                engine = getattr(self._transcriber, "backend", None)
                if isinstance(getattr(engine, "threads", None), int):  # fixed when it loads
                    engine.threads = self.thread_split().transcribe  # type: ignore[union-attr]
            self._made = True

    def check_models(self, *, video: bool, audio: bool) -> None:
        """Before any model loads: the models a file needs (its captioner with video, its
        transcriber with audio to recognise, the reasoner) that were not checked yet, checked
        together, so that all that are missing are named in one error (``model_check``)."""
        self._make_backends()
        with self._making:
            stages = {"captioner": self._captioner if video else None,
                      "transcriber": self._transcriber if audio else None,
                      "reasoner": self.reasoner}
            wanted = {k: v for k, v in stages.items() if v is not None and k not in self._checked}
            check_models(list(wanted.values()))
            self._checked.update(wanted)

    def thread_split(self) -> ThreadSplit:
        """The CPU threads of each model stage while both run (``Options.threads`` or every
        usable core, split by expected work), decided once per Summarizer."""
        if self._split is None:
            o = self.options
            every = o.interval if o.sampling == "interval" else SCENE_FRAME_EVERY_S
            work = expected_work(self._captioner, self._names.captioner, self._transcriber,
                                 self._names.transcriber, every)
            self._split = split_threads(o.threads or available_cpus(), *work)
            log.info("CPU threads: %d in all; captioning %d and transcription %d side by "
                     "side, captioning all of them once the transcript is done; screen "
                     "reading %d", self._split.cores, self._split.caption,
                     self._split.transcribe, self._split.read)
        return self._split

    @property
    def reader(self) -> ScreenReader | None:
        """The screen reader, or None when no text is read (``--ocr``)."""
        if self._reader is None and self._names.reader is not None:
            self._make_backends()  # the split weighs the captioner's and transcriber's work
            self._reader = create_reader(self.options.ocr, self.options)
            if isinstance(getattr(self._reader, "threads", None), int):  # fixed when it loads
                self._reader.threads = self.thread_split().read  # type: ignore[union-attr]
        return self._reader

    def backends(self) -> Backends:
        """The backends' names and, once built, their models and the reasoner's."""
        return replace(
            self._names,
            caption_model=model_id_of(self._captioner) if self._captioner is not None else None,
            whisper_model=model_id_of(self._transcriber) if self._transcriber is not None else None,
            llm_model=model_id_of(self.reasoner) if self.reasoner is not None else None,
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
        captions, heard, screen = self._model_stages(path, info, file_hash,
                                                     local=source is None)
        transcript = heard.transcript or Staged(Transcript.empty())
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
        notes = media_notes(info, transcript.value) + list(heard.notes)
        entries = merge(shown, segments, screen.value)
        reasoned = self._reason(Path(path).name, entries, duration, notes, segments)
        if reasoned.seconds is not None:
            timings["reason"] = reasoned.seconds
        if reasoned.made is not None:
            notes.extend(reasoned.made.notes)
        if reasoned.failure is not None:
            notes.append(f"The reasoning step failed: {reasoned.failure.message}")
            explain(reasoned.failure, source or str(path))
        timings["total"] = time.perf_counter() - started
        return self._result(
            path, source, file_hash, info, duration, shown, transcript.value, notes,
            render(entries), reasoned, timings, captions.counts, heard.source,
            {name: staged.cache for name, staged in (("captions", captions),
                                                     ("transcript", transcript),
                                                     ("screen_text", screen))
             if staged.cache is not None}, screen.value)

    def _model_stages(self, path: str | Path, info: MediaInfo, file_hash: str, local: bool
                      ) -> tuple[Staged[list[Caption]], Heard, Staged[list[ScreenText]]]:
        """Captions, the transcript (from subtitles or speech) and text on screen, side by
        side (the transcript first when captions are conditioned on speech)."""
        captions: Staged[list[Caption]] = Staged([])
        screen: Staged[list[ScreenText]] = Staged([])
        o = self.options
        speech = plan_speech(path, info, o, local)
        self.check_models(video=info.has_video, audio=info.has_audio and not speech.candidates)
        heard = Heard(None, notes=speech.notes)
        hearing = info.has_audio or bool(speech.candidates)
        speech_first = o.caption_context == "speech" and hearing and info.has_video
        split = self.thread_split()
        side_by_side = info.has_video and not speech_first
        reader = self.reader if info.has_video else None
        import_first(self.captioner if info.has_video else None,
                     self.transcriber if hearing else None, reader)
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="stage") as pool:
            reading = None
            if reader is not None:
                reading = pool.submit(screen_step, path, info, o, reader, self.cache,
                                      file_hash, self.progress)
            pending = None
            if hearing:
                pending = pool.submit(self._speech, path, info, file_hash, speech,
                                      split.transcribe if side_by_side else split.cores)
            if speech_first and pending is not None:
                heard, pending = pending.result(), None

            def caption_threads() -> int:
                return split.caption if pending is not None and not pending.done() \
                    else split.cores

            if info.has_video:
                context = heard.transcript or Staged(Transcript.empty())
                captions = caption_step(path, info, o, self.captioner,
                                        (self._caption_prompt, self._context_prompt),
                                        self.cache, file_hash, self.progress,
                                        context.value if speech_first else None,
                                        caption_threads)
            if pending is not None:
                heard = pending.result()
            if reading is not None:
                screen = reading.result()
        return captions, heard, screen

    def _speech(self, path: str | Path, info: MediaInfo, file_hash: str,
                speech: SpeechPlan, threads: int = 0) -> Heard:
        """The transcript from the planned subtitles, else (with audio) from speech, with
        ``threads`` torch threads."""
        heard = read_subtitles(path, speech, self.options)
        if heard.transcript is not None or not info.has_audio:
            return heard
        made = transcript_step(path, self.options, self.transcriber, self.cache, file_hash,
                               self.progress, threads)
        return from_asr(made, self.transcriber, heard.notes)

    def _reason(self, title: str, entries: list[TimelineEntry], duration: float | None,
                notes: list[str], segments: tuple[Segment, ...]) -> Reasoned:
        """The reasoning step (see ``reasoning_step.reason``)."""
        return reason(self.options, self.reasoner, self.progress, title=title, entries=entries,
                      duration=duration, notes=notes, segments=segments)

    def _result(self, path: str | Path, source: str | None, file_hash: str, info: MediaInfo,
                duration: float | None, captions: list[Caption], transcript: Transcript,
                notes: list[str], timeline: str, reasoned: Reasoned,
                timings: dict[str, float], counts: dict[str, int], heard_from: dict[str, Any],
                cache_use: dict[str, str], screen: list[ScreenText]) -> Result:
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
                **({"source": heard_from} if heard_from else {}),
            } if info.has_audio or heard_from else {},
            summary=made.summary if made else None,
            usage=usage,
            key_moments=made.key_moments if made else (),
            chapters=made.chapters if made else (),
            topics=made.topics if made else (),
            reasoning=reasoned.facts,
            requests=reasoned.requests,
            cost=cost_block(
                model=model_id_of(self.reasoner) if self.reasoner else "",
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
                transcriber=self._transcriber if heard_from.get("kind") == "asr" else None,
                reasoner=self.reasoner, reader=self._reader if info.has_video else None,
                screen=bool(screen),
                threads=self._split.record() if self._split is not None else None),
            failure=reasoned.failure,
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

