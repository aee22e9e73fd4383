"""Scale-out benchmark: batch throughput of the local executor and of Ray with 1 and 2 workers.

``summarize_many`` over real shared media (``../shared/media``) with the tiny random-weight
models (``summarize_video.testing``) and the local chat server, on a private Ray instance on
this machine: no hub, no GPU, no ffmpeg binary. Each run starts with an empty cache, so every
file is decoded, sampled, captioned, transcribed and reasoned over; its wall time includes
starting the workers and loading their models, as a real batch pays. Throughput is minutes of
video per minute of wall time. How to run it: benchmarks/README.md.
"""

from __future__ import annotations

import os

# Before transformers is imported: never reach for the hub; the chat server is on 127.0.0.1.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

import argparse
import json
import logging
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("SUMMARIZE_VIDEO_MEDIA", ROOT.parent / "shared" / "media"))
CACHE = Path(__file__).resolve().parent / ".cache"  # the tiny models, kept (gitignored)
PROMPTS = ROOT / "prompts"  # this checkout's prompts, whatever an editable install points at
REPLY = "A benchmark summary. Key moments: 00:00 start."
# The default inputs: every clip, with picture, sound or both (~15 min in 49 files).
FOLDERS = ("speech_video", "noaudio_video", "speech_audio", "odd_cases")


def inputs(folders: list[str]) -> tuple[list[Path], float]:
    """The media files of ``folders`` and their total duration in seconds (the manifest's)."""
    entries = json.loads((MEDIA / "manifest.json").read_text(encoding="utf-8"))
    durations = {e["file"]: float(e["duration"]) for e in entries
                 if e.get("file") and e.get("duration")}
    files = sorted(MEDIA / name for name in durations if name.split("/")[0] in folders)
    return files, sum(durations[str(f.relative_to(MEDIA))] for f in files)


def tiny_models() -> dict[str, Path]:
    """Tiny SmolVLM (Idefics3) and whisper checkpoints, built once into the cache folder."""
    from summarize_video.testing.tiny_models import kept_smolvlm_and_whisper

    return kept_smolvlm_and_whisper(CACHE / "models")


def run(files: list[Path], base_url: str, work: Path, **executor: Any) -> float:
    """Wall seconds of one batch over ``files`` with an empty cache; every file must succeed."""
    from summarize_video import summarize_many

    models = tiny_models()
    cache = work / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    os.environ["SUMMARIZE_VIDEO_CACHE_DIR"] = str(cache)  # the Ray workers' too
    started = time.perf_counter()
    outcomes = list(summarize_many(
        files, output_dir=work / "out", resume=False, cache_dir=cache, prompts_dir=PROMPTS,
        caption_model=str(models["smolvlm"]), whisper_model=str(models["whisper"]),
        temperature_increment=0.0, compression_ratio_threshold=None, device="cpu",
        base_url=base_url, api_key="sk-bench", llm_model="test-model", **executor))
    wall = time.perf_counter() - started
    failed = [o.error.one_line() for o in outcomes if o.error is not None]
    if failed:
        raise SystemExit("benchmark run failed:\n" + "\n".join(failed))
    return wall


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folders", default=",".join(FOLDERS),
                        help="media sub-folders to summarize (comma-separated)")
    parser.add_argument("--llm-delay", type=float, default=0.0,
                        help="seconds the chat server waits before each answer")
    parser.add_argument("--llm-concurrency", type=int, default=2,
                        help="reasoning calls at a time across the Ray workers")
    parser.add_argument("--repeats", type=int, default=2,
                        help="runs of each executor, alternating; the fastest is shown")
    args = parser.parse_args(argv)
    if not (MEDIA / "manifest.json").is_file():
        raise SystemExit(f"no shared media at {MEDIA} (set SUMMARIZE_VIDEO_MEDIA)")

    import ray
    import torch

    from summarize_video.testing.chat_server import ChatServer

    files, seconds = inputs(args.folders.split(","))
    tiny_models()
    print(f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}, ray {ray.__version__}, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"inputs: {len(files)} files from {args.folders}, {seconds / 60:.2f} min of media; "
          f"tiny models, chat server delay {args.llm_delay:g} s")
    names = ["local", "ray, 1 worker", "ray, 2 workers"]
    walls: dict[str, list[float]] = {name: [] for name in names}
    with ChatServer(reply=REPLY, delay=args.llm_delay) as server, \
            tempfile.TemporaryDirectory(prefix="sv-scale-") as tmp:
        work = Path(tmp)
        # Up for every run, the local ones too: each run pays the same idle Ray processes.
        ray.init(num_cpus=os.cpu_count() or 2, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR, _temp_dir=str(work / "ray"))
        try:
            for _ in range(args.repeats):
                walls[names[0]].append(run(files, server.base_url, work / "local"))
                for workers in (1, 2):
                    walls[names[workers]].append(run(
                        files, server.base_url, work / f"ray{workers}", executor="ray",
                        ray_workers=workers, llm_concurrency=args.llm_concurrency))
        finally:
            ray.shutdown()
    best = {name: min(times) for name, times in walls.items()}
    base = seconds / best["local"]
    print(f"{'executor':<16} {'best wall s':>11} {'video min / wall min':>21} {'vs local':>9}"
          f"  all runs (s)")
    for name, wall in best.items():
        rate = seconds / wall
        print(f"{name:<16} {wall:>11.1f} {rate:>21.2f} {rate / base:>8.2f}x  "
              + " ".join(f"{t:.1f}" for t in walls[name]))
    print(f"ray 2 workers / 1 worker: {best[names[1]] / best[names[2]]:.2f}x")

if __name__ == "__main__":
    main()
