"""The caption-then-reason pipeline: probe, sample, caption, transcribe, merge, reason.

``Summarizer`` holds the stage backends, so models load once and serve many files.
``summarize()`` is the one-call form for a single file.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import __version__, prompting
from .audio import load_audio
from .captioning import Captioner, create_captioner
from .frames import Frame, SamplingStats, sample_frames
from .options import Options
from .probe import MediaInfo, probe
from .reasoning import Reasoner, Usage, create_reasoner
from .results import Result, VideoInfo
from .selection import drop_near_duplicates, scene_frames
from .timeline import Caption, build_timeline, format_timestamp
from .transcription import Transcriber, Transcript, create_transcriber

log = logging.getLogger(__name__)

# progress(stage, done, total): total is None when unknown.
ProgressCallback = Callable[[str, int, "int | None"], None]

NOTE_NO_AUDIO = "The file has no audio track: the summary rests on the pictures alone."
NOTE_NO_VIDEO = "The file has no video track: the summary rests on the speech alone."
NOTE_NO_SPEECH = "No speech was recognized in the audio track."


def _no_progress(stage: str, done: int, total: int | None) -> None:
    return None


class Summarizer:
    """Summarizes files with one set of loaded backends.

    Backends not passed in are created from ``options`` by name from the registries; models
    load on first use and are kept for the next file. The reasoner is created first, so a
    missing API key is reported before any model loads.
    """

    def __init__(
        self,
        options: Options | None = None,
        *,
        captioner: Captioner | None = None,
        transcriber: Transcriber | None = None,
        reasoner: Reasoner | None = None,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.options = options or Options()
        self.progress = progress or _no_progress
        o = self.options
        # Fail fast on configuration: prompts and the LLM client before any model loads.
        self._system_prompt = prompting.load_prompt(prompting.SYSTEM, o.prompts_dir)
        self._summary_prompt = prompting.load_prompt(prompting.SUMMARY, o.prompts_dir)
        caption_prompt = prompting.load_prompt(prompting.CAPTION, o.prompts_dir).strip()
        self.reasoner: Reasoner | None = None
        if not o.no_llm:
            self.reasoner = reasoner or create_reasoner(
                o.reasoner, model=o.llm_model, base_url=o.base_url, api_key=o.api_key,
                timeout=o.timeout,
            )
        self._captioner = captioner
        self._transcriber = transcriber
        self._captioner_kwargs: dict[str, Any] = dict(
            model=o.caption_model, device=o.device, batch_size=o.caption_batch_size,
            max_new_tokens=o.caption_max_new_tokens, prompt=caption_prompt,
        )
        self._transcriber_kwargs: dict[str, Any] = dict(
            model=o.whisper_model, device=o.device, language=o.language,
            temperature=o.temperature, temperature_increment=o.temperature_increment,
        )

    @property
    def captioner(self) -> Captioner:
        if self._captioner is None:
            self._captioner = create_captioner(self.options.captioner, **self._captioner_kwargs)
        return self._captioner

    @property
    def transcriber(self) -> Transcriber:
        if self._transcriber is None:
            self._transcriber = create_transcriber(
                self.options.transcriber, **self._transcriber_kwargs
            )
        return self._transcriber

    def summarize(self, path: str | Path) -> Result:
        timings: dict[str, float] = {}
        started = time.perf_counter()

        t0 = time.perf_counter()
        self.progress("probe", 0, 1)
        info = probe(path)
        timings["probe"] = time.perf_counter() - t0
        self.progress("probe", 1, 1)

        frame_counts: dict[str, int] = {}
        captions = self._caption(path, info, timings, frame_counts) if info.has_video else []
        transcript = self._transcribe(path, info, timings) if info.has_audio else Transcript.empty()
        segments = transcript.segments
        duration = info.duration_s
        if duration is None:
            ends = [c.t for c in captions] + [s.end for s in segments]
            duration = max(ends) if ends else None

        notes = []
        if not info.has_audio:
            notes.append(NOTE_NO_AUDIO)
        elif not segments:
            notes.append(NOTE_NO_SPEECH)
        if not info.has_video:
            notes.append(NOTE_NO_VIDEO)

        timeline = build_timeline(captions, segments)
        summary: str | None = None
        usage = Usage(prompt_tokens=0, completion_tokens=0)
        if self.reasoner is not None:
            t0 = time.perf_counter()
            self.progress("reason", 0, 1)
            messages = self.messages(Path(path).name, duration, notes, timeline)
            completion = self.reasoner.complete(messages)
            summary, usage = completion.text, completion.usage
            timings["reason"] = time.perf_counter() - t0
            self.progress("reason", 1, 1)
        timings["total"] = time.perf_counter() - started

        return Result(
            video=VideoInfo(
                path=str(path), duration_s=duration, width=info.width, height=info.height,
                fps=info.fps, has_audio=info.has_audio, has_video=info.has_video,
                rotation=info.rotation,
            ),
            settings=self._settings(),
            captions=tuple(captions),
            transcript=segments,
            language=transcript.language if segments else None,
            summary=summary,
            usage=usage,
            timings_s=timings,
            notes=tuple(notes),
            frames=frame_counts,
            timeline=timeline,
            version=__version__,
        )

    def messages(self, title: str, duration: float | None, notes: list[str],
                 timeline: str) -> list[dict[str, str]]:
        """The chat messages for the reasoning LLM, from the prompt files."""
        variables = {
            "title": title,
            "duration": format_timestamp(duration) if duration is not None else "unknown",
            "notes": "".join(f"Note: {n}\n" for n in notes),
            "timeline": timeline or "(nothing was seen or heard)",
        }
        return [
            {"role": "system", "content": prompting.fill(self._system_prompt, {}, name="system")},
            {"role": "user",
             "content": prompting.fill(self._summary_prompt, variables, name="summary")},
        ]

    def _settings(self) -> dict[str, Any]:
        settings = self.options.settings()
        settings["caption_model"] = getattr(self._captioner, "model_id", settings["caption_model"])
        settings["whisper_model"] = getattr(
            self._transcriber, "model_id", settings["whisper_model"]
        )
        if self.reasoner is not None:
            settings["llm_model"] = self.reasoner.model_id
        return settings

    def _caption(self, path: str | Path, info: MediaInfo, timings: dict[str, float],
                 counts: dict[str, int]) -> list[Caption]:
        o = self.options
        frames = self._frames(path, info, counts)
        # Progress in seconds of video covered: frame counts are unknown ahead of time.
        total = math.ceil(info.duration_s) if info.duration_s else None
        captioner = self.captioner
        captions: list[Caption] = []
        sample_s = caption_s = 0.0
        self.progress("caption", 0, total)
        for batch, waited in _batches(frames, o.caption_batch_size):
            sample_s += waited
            t0 = time.perf_counter()
            texts = captioner.caption(batch)
            caption_s += time.perf_counter() - t0
            captions += [Caption(f.t, text, f.until) for f, text in zip(batch, texts, strict=True)]
            self.progress("caption", min(int(batch[-1].t), total or 0) or 0, total)
        self.progress("caption", total or 0, total)
        timings["sample"] = sample_s
        timings["caption"] = caption_s
        return captions

    def _frames(self, path: str | Path, info: MediaInfo, counts: dict[str, int]
                ) -> Iterator[Frame]:
        """The frames to caption: sampled by interval or scene, near-duplicates dropped.

        ``counts`` is filled as the frames are consumed: decoded, sampled, kept, dropped.
        """
        o = self.options
        if o.sampling == "scene":
            scene_counts: dict[str, int] = {}
            sampled = scene_frames(path, threshold=o.scene_threshold, min_gap=o.min_scene_gap,
                                   max_gap=o.max_scene_gap, max_side=o.frame_max_side,
                                   stats=scene_counts)
        else:
            sampling = SamplingStats()
            sampled = sample_frames(path, o.interval, max_side=o.frame_max_side,
                                    workers=o.workers, stats=sampling)
        dedup: dict[str, int] = {}
        yield from drop_near_duplicates(sampled, threshold=o.dedup_threshold,
                                        end=info.duration_s, stats=dedup)
        if o.sampling == "scene":
            counts.update(decoded=scene_counts.get("decoded", 0),
                          sampled=scene_counts.get("kept", 0))
        else:
            counts.update(decoded=sampling.decoded, sampled=sampling.kept)
        counts.update(kept=dedup.get("kept", 0), dropped=dedup.get("dropped", 0))

    def _transcribe(self, path: str | Path, info: MediaInfo, timings: dict[str, float]
                    ) -> Transcript:
        t0 = time.perf_counter()
        self.progress("transcribe", 0, 1)
        audio = load_audio(path)
        timings["audio"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        transcript = self.transcriber.transcribe(audio)
        timings["transcribe"] = time.perf_counter() - t0
        self.progress("transcribe", 1, 1)
        return transcript


def _batches(frames: Iterator[Frame], size: int) -> Iterator[tuple[list[Frame], float]]:
    """Group frames into lists of ``size``, with the seconds spent waiting for each list."""
    batch: list[Frame] = []
    waited = 0.0
    while True:
        t0 = time.perf_counter()
        frame = next(frames, None)
        waited += time.perf_counter() - t0
        if frame is None:
            break
        batch.append(frame)
        if len(batch) == size:
            yield batch, waited
            batch, waited = [], 0.0
    if batch:
        yield batch, waited


def summarize(
    path: str | Path,
    *,
    captioner: Captioner | None = None,
    transcriber: Transcriber | None = None,
    reasoner: Reasoner | None = None,
    progress: ProgressCallback | None = None,
    options: Options | None = None,
    **option_values: Any,
) -> Result:
    """Summarize one video (or audio) file. Keyword options are the fields of ``Options``."""
    opts = Options.from_kwargs(options, **option_values)
    return Summarizer(opts, captioner=captioner, transcriber=transcriber, reasoner=reasoner,
                      progress=progress).summarize(path)
