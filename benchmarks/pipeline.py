"""Pipeline benchmark: overlap of the stages, peak memory by video length, cached reruns.

The library's ``Summarizer`` on generated videos with the tiny random-weight models and the local
chat server: no hub, no GPU, no ffmpeg binary needed. How to run it: benchmarks/README.md.

GPU: ``--device cuda`` is passed through; tiny models say nothing of GPU throughput. A GPU run
would swap them for real-size random-weight models built offline like ``summarize_video.testing``
does: ``Idefics3ForConditionalGeneration(Idefics3Config(...))`` with SmolVLM-256M-Instruct's
config (SmolLM2-135M text: hidden 576, 30 layers, 9 heads, 3 KV heads; SigLIP base-patch16-512
vision: hidden 768, 12 layers; scale_factor 4) and ``save_pretrained``; whisper base as
``Whisper(ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=512, n_audio_head=8,
n_audio_layer=6, n_vocab=51865, n_text_ctx=448, n_text_state=512, n_text_head=8,
n_text_layer=6))`` saved like ``tiny_whisper``.
"""

from __future__ import annotations

import os

# Before transformers is imported: never reach for the hub; the chat server is on 127.0.0.1.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

import argparse
import contextlib
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

CACHE = Path(__file__).resolve().parent / ".cache"  # videos and tiny models, kept (gitignored)
# This checkout's prompts, always: an editable install maps the shipped ones to its own checkout.
PROMPTS = Path(__file__).resolve().parents[1] / "prompts"
WIDTH, HEIGHT, FPS, RATE = 320, 240, 15, 44100
SCENE_S = 20  # a hard cut (new background) every SCENE_S seconds
QUIET_EVERY_S, QUIET_S = 180, 30  # every 3 minutes: 30 s of frozen picture and silence
VIDEO_VERSION = 1  # bump when the generator changes: old files are then not reused
BUDGET_S = 600.0  # longest pipeline run the RSS part attempts (estimated from measured runs)
CHILD = "--rss-child"  # hidden flag: one RSS measurement in a fresh process
REPLY = "A benchmark summary. Key moments: 00:00 start."
OTHER_SUMMARY = ("Describe this video in three bullet points.\n\n"
                 "$title ($duration)\n$notes\n$timeline\n")
REPEATS = 2  # library and sequential runs on the main video, alternating
STAGES = ("probe", "sample", "caption", "audio", "transcribe", "reason")


def _picture(second: int, i: int, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """Frame ``i``: a per-scene gradient with three moving squares (frozen in quiet stretches)."""
    scene = second // SCENE_S
    r = np.random.default_rng(scene)
    c1, c2 = r.integers(0, 256, 3), r.integers(0, 256, 3)
    w = (xx + yy * (scene % 3))[..., None] / (WIDTH + HEIGHT * 2)
    img = (w * c1 + (1 - w) * c2).astype(np.uint8)
    if second % QUIET_EVERY_S >= QUIET_EVERY_S - QUIET_S:  # a still "slide"
        i = (second - second % QUIET_EVERY_S) * FPS
    for j in range(3):
        x = int((i * (3 + 2 * j) + 90 * j) % (WIDTH - 40))
        y = int(HEIGHT / 2 - 20 + HEIGHT / 3 * np.sin(i / (20 + 7 * j) + j))
        img[y:y + 40, x:x + 40] = ((80 * j + scene * 37) % 256, 255 - 60 * j, (3 * i) % 256)
    return img


def _sound(second: int) -> np.ndarray:
    """One second of audio: in each 10 s, 6 s of voice-like tone bursts then 4 s of silence."""
    t = np.arange(RATE) / RATE
    if second % QUIET_EVERY_S >= QUIET_EVERY_S - QUIET_S or second % 10 >= 6:
        return np.zeros(RATE, dtype=np.float32)
    pitch = 120 + 25 * (second % 7)
    syllables = np.clip(np.sin(2 * np.pi * (3 + second % 3) * t), 0, None)  # 3-5 bursts a second
    voice = sum(np.sin(2 * np.pi * pitch * k * t) / k for k in (1, 2, 3))
    return (0.15 * syllables * voice).astype(np.float32)


def make_video(minutes: float) -> Path:
    """A cached H.264 + AAC file of ``minutes`` minutes; written to a temp name, then renamed."""
    dest = CACHE / f"bench-v{VIDEO_VERSION}-{minutes:g}min-{WIDTH}x{HEIGHT}-{FPS}fps.mp4"
    if dest.is_file():
        return dest
    CACHE.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    partial = dest.with_suffix(".partial.mp4")
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    with av.open(str(partial), "w") as c:
        v = c.add_stream("libx264", rate=FPS, options={"preset": "ultrafast"})
        v.width, v.height, v.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        a = c.add_stream("aac", rate=RATE, layout="stereo")
        for s in range(round(minutes * 60)):
            for k in range(FPS):
                frame = av.VideoFrame.from_ndarray(_picture(s, s * FPS + k, yy, xx), format="rgb24")
                frame.pts, frame.time_base = s * FPS + k, Fraction(1, FPS)
                c.mux(v.encode(frame))
            mono = _sound(s)
            stereo = np.stack([mono, mono])
            for start in range(0, RATE, 1024):
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(stereo[:, start:start + 1024]),
                                                format="fltp", layout="stereo")
                af.sample_rate, af.pts, af.time_base = RATE, s * RATE + start, Fraction(1, RATE)
                c.mux(a.encode(af))
        c.mux(v.encode(None))
        c.mux(a.encode(None))
    partial.rename(dest)
    print(f"  (generated {dest.name}: {dest.stat().st_size / 2**20:.1f} MiB in "
          f"{time.perf_counter() - started:.0f} s)", flush=True)
    return dest


def tiny_models() -> dict[str, Path]:
    """Tiny SmolVLM (Idefics3) and whisper checkpoints, built once into the cache folder."""
    from summarize_video.testing.tiny_models import kept_smolvlm_and_whisper

    return kept_smolvlm_and_whisper(CACHE / "models")


def options(device: str, base_url: str, cache_dir: Path, prompts_dir: Path = PROMPTS) -> Any:
    from summarize_video import Options

    models = tiny_models()
    # Tiny models: no temperature fallback, no repetition guard (see tests/test_end_to_end.py).
    return Options(caption_model=str(models["smolvlm"]), whisper_model=str(models["whisper"]),
                   temperature_increment=0.0, compression_ratio_threshold=None, device=device,
                   base_url=base_url, api_key="sk-bench", llm_model="test-model",
                   cache_dir=cache_dir, prompts_dir=prompts_dir)


def loaded_summarizer(opts: Any) -> tuple[Any, float]:
    """A Summarizer whose models are loaded and have run once (one small frame, 1 s of sound)."""
    from PIL import Image

    from summarize_video.media.audio import AudioClip
    from summarize_video.media.frames import Frame
    from summarize_video.pipeline.summarizer import Summarizer

    started, s = time.perf_counter(), Summarizer(opts)
    s.captioner.caption([Frame(0.0, Image.new("RGB", (64, 48), (90, 40, 200)))])
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000)
    s.transcriber.transcribe(AudioClip(tone.astype(np.float32)))  # sound: the gate lets it in
    assert getattr(s.transcriber, "is_loaded", True), "whisper was not loaded"
    return s, time.perf_counter() - started


def sequential(s: Any, path: Path) -> dict[str, float]:
    """The same work as ``Summarizer.summarize`` with no overlap: each stage after the other."""
    from summarize_video.media.probe import probe
    from summarize_video.pipeline.cache import hash_file
    from summarize_video.pipeline.stages import run_transcript, select_frames
    from summarize_video.reasoning import synthesis
    from summarize_video.timeline import Caption, merge

    t: dict[str, float] = {}
    started = t0 = time.perf_counter()
    info = probe(path)
    hash_file(path)  # the library run hashes the file for its cache keys
    t["probe"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    frames = list(select_frames(path, info, s.options, {}))
    t["sample"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    texts = s.captioner.caption(frames)
    captions = [Caption(f.t, text, f.until) for f, text in zip(frames, texts, strict=True)]
    t["caption"] = time.perf_counter() - t0
    made = run_transcript(path, s.transcriber, lambda *a: None)
    t.update(made.timings)
    transcript = made.value
    t0 = time.perf_counter()
    plan = synthesis.plan(merge(captions, transcript.segments), title=path.name,
                          duration=info.duration_s, model=s.reasoner.model_id,
                          context_tokens=128_000, max_output_tokens=2048,
                          prompts_dir=s.options.prompts_dir)
    synthesis.run(plan, s.reasoner)
    t["reason"] = time.perf_counter() - t0
    t["total"] = time.perf_counter() - started
    return t


def cpu_s() -> float:
    """CPU seconds of this process and its waited-for children (the sampling workers)."""
    me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def peak_mib() -> float:
    """``ru_maxrss`` in MiB (KiB on Linux); never below what the parent held when it started us."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def proc_mib(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak since start or reset) from /proc/self/status, MiB."""
    lines = Path("/proc/self/status").read_text().splitlines()
    return next((int(ln.split()[1]) / 1024 for ln in lines if ln.startswith(field + ":")), 0.0)


def reset_peak() -> bool:
    """Reset this process's peak RSS (Linux >= 4.0), so the run is not masked by model loading."""
    with contextlib.suppress(OSError):
        return Path("/proc/self/clear_refs").write_text("5") == 1
    return False


def set_threads(n: int) -> None:
    if n > 0:
        import torch

        torch.set_num_threads(n)


def rss_child(minutes: float, args: argparse.Namespace) -> None:
    """One length in this fresh process: peak RSS with models loaded, then after the run."""
    from summarize_video.pipeline.summarizer import Summarizer
    from summarize_video.testing.chat_server import ChatServer

    set_threads(args.torch_threads)
    path = make_video(minutes)  # already generated by the parent
    with ChatServer(reply=REPLY) as srv, tempfile.TemporaryDirectory() as tmp:
        s, _ = loaded_summarizer(options(args.device, srv.base_url, Path(tmp)))
        models_peak, models_rss = peak_mib(), proc_mib("VmRSS")
        reset = reset_peak()
        run = Summarizer(s.options, captioner=s.captioner, transcriber=s.transcriber)
        t0 = time.perf_counter()
        result = run.summarize(path)
        wall = time.perf_counter() - t0
    print("RSS-JSON " + json.dumps(dict(
        minutes=minutes, models_peak=models_peak, models_rss=models_rss, peak=peak_mib(),
        hwm=proc_mib("VmHWM"), reset=reset, wall_s=wall, timings=result.timings_s)), flush=True)


def machine(args: argparse.Namespace) -> None:
    from importlib.metadata import version

    from summarize_video.devices import available_cpus

    info = [ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")] or ["unknown"]
    threads = args.torch_threads or "library default (one per usable core)"
    print(f"[machine] {os.cpu_count()} cores ({available_cpus()} usable), CPU {info[0]}, "
          f"Python {sys.version.split()[0]}, torch {version('torch')}, torch threads "
          f"{threads}, device {args.device}")
    print(f"load average at start: {os.getloadavg()[0]:.2f}; the cores are shared with other "
          "work, so every figure below is noisy: rerun before trusting a difference under 20 %.")
    print("GPU: none here. These are tiny random-weight models on CPU; a GPU run would use "
          "real-size random-weight SmolVLM-256M and whisper base (see this file's docstring).")


def stage_table(rows: dict[str, dict[str, float]]) -> None:
    print(f"  {'stage':<11}" + "".join(f"{n:>14}" for n in rows))
    for stage in (*STAGES, "total"):
        cells = [f"{r[stage]:>13.2f}s" if stage in r else f"{'-':>14}" for r in rows.values()]
        print(f"  {stage:<11}" + "".join(cells))


def part_main(args: argparse.Namespace, srv: Any, work: Path) -> None:
    import torch

    from summarize_video.pipeline.summarizer import Summarizer

    path = make_video(args.minutes)
    print(f"\n[overlap] {args.minutes:g}-minute video ({path.name}), Summarizer, fresh cache")
    set_threads(args.torch_threads)
    s, load_s = loaded_summarizer(options(args.device, srv.base_url, work / "unused"))
    print(f"  models loaded and run once in {load_s:.1f} s (not counted below); torch uses "
          f"{torch.get_num_threads()} thread(s); library and sequential alternate {REPEATS} "
          "times, the faster run of each is shown")
    runs: list[tuple[float, Any]] = []  # (wall, Result) of each library run
    seqs: list[dict[str, float]] = []  # the timings of each sequential run
    for i in range(REPEATS):  # a fresh cache folder each time: every run computes everything
        lib_run = Summarizer(options(args.device, srv.base_url, work / f"cache{i}"),
                             captioner=s.captioner, transcriber=s.transcriber)
        c0, t0 = cpu_s(), time.perf_counter()
        result = lib_run.summarize(path)
        runs.append((time.perf_counter() - t0, cpu_s() - c0, result))
        c0 = cpu_s()
        seqs.append(sequential(s, path))
        seqs[-1]["cpu"] = cpu_s() - c0
    wall, cpu, result = min(runs, key=lambda r: r[0])
    seq = min(seqs, key=lambda t: t["total"])
    lib = dict(result.timings_s)
    stage_table({"library": lib, "sequential": seq})
    walls = [f"{w:.2f}" for w, _, _ in runs] + [f"{t['total']:.2f}" for t in seqs]
    print(f"  all walls (s): library {walls[:REPEATS]}, sequential {walls[REPEATS:]}")
    print(f"  CPU s / wall s (cores busy, sampling workers included): library {cpu / wall:.2f}, "
          f"sequential {seq['cpu'] / seq['total']:.2f}, of {os.cpu_count()} cores")
    stages = {k: v for k, v in lib.items() if k in STAGES}
    slowest = max(stages, key=stages.__getitem__)
    video_branch = lib.get("sample", 0.0) + lib.get("caption", 0.0)
    audio_branch = lib.get("audio", 0.0) + lib.get("transcribe", 0.0)
    ideal = lib["probe"] + max(video_branch, audio_branch) + lib.get("reason", 0.0)
    print(f"  frames {result.frames}; {len(result.transcript)} transcript segments; "
          f"speech {result.speech}")
    print(f"  wall {wall:.2f} s; slowest stage {slowest} {stages[slowest]:.2f} s; "
          f"wall / slowest stage = {wall / stages[slowest]:.2f} (goal <= 1.15)")
    print(f"  branches: sample+caption {video_branch:.2f} s, audio+transcribe "
          f"{audio_branch:.2f} s; wall / (probe + longer branch + reason) = {wall / ideal:.2f}")
    print(f"  sequential reference {seq['total']:.2f} s: the overlap saves "
          f"{seq['total'] - wall:.2f} s ({seq['total'] / wall:.2f}x)")

    print("\n[cached rerun] with another summary prompt")
    shutil.copytree(PROMPTS, prompts := work / "prompts")
    (prompts / "summary.md").write_text(OTHER_SUMMARY, encoding="utf-8")
    o2 = options(args.device, srv.base_url, work / f"cache{REPEATS - 1}", prompts)
    t0 = time.perf_counter()
    again = Summarizer(o2, captioner=s.captioner, transcriber=s.transcriber).summarize(path)
    wall2 = time.perf_counter() - t0
    assert again.cache == {"captions": "hit", "transcript": "hit"}, again.cache
    sent = srv.requests[-1]["messages"][-1]["content"]
    assert sent.startswith(OTHER_SUMMARY.split("\n")[0]), sent[:80]
    llm = again.timings_s["reason"]
    print(f"  result.cache == {again.cache} (asserted); the new summary.md was sent (asserted)")
    print(f"  wall {wall2:.3f} s = LLM call {llm:.3f} s + everything else {wall2 - llm:.3f} s "
          f"(goal: everything else < 2 s)")


def part_rss(args: argparse.Namespace) -> None:
    print("\n[peak RSS] by video length, models excluded; each length in a fresh process")
    print("  the peak is reset (/proc/self/clear_refs) after loading, whose transient peak would "
          "hide the run's; increase = run peak - resident size with models; workers not counted")
    lengths = sorted({float(x) for x in args.rss_lengths.split(",") if x.strip()})
    rows: list[dict[str, Any]] = []
    per_minute: float | None = None  # seconds of pipeline per minute of video, last measured
    for minutes in lengths:
        if per_minute is not None and per_minute * minutes > BUDGET_S:
            fits = int(BUDGET_S / per_minute)
            done = fits <= rows[-1]["minutes"]  # nothing longer than measured fits
            print(f"  {minutes:g} min skipped: estimated {per_minute * minutes:.0f} s > "
                  f"{BUDGET_S:.0f} s ({per_minute:.1f} s per minute of video); " +
                  ("no longer length fits" if done else f"measuring {fits} min instead"))
            if done:
                continue
            minutes = float(fits)
        make_video(minutes)
        cmd = [sys.executable, str(Path(__file__).resolve()), CHILD, f"{minutes:g}",
               "--device", args.device, "--torch-threads", str(args.torch_threads)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RSS-JSON ")), None)
        if proc.returncode != 0 or line is None:
            print(f"  {minutes:g} min: child failed (rc {proc.returncode})\n{proc.stderr[-3000:]}")
            continue
        row = json.loads(line.split(" ", 1)[1])
        run_peak = row["hwm"] if row["reset"] else row["peak"]
        row["increase"] = run_peak - row["models_rss"]
        rows.append(row)
        per_minute = row["wall_s"] / minutes
        t = row["timings"]
        print(f"  {minutes:>4g} min: ru_maxrss after loading {row['models_peak']:6.0f} MiB, "
              f"resident {row['models_rss']:6.0f} MiB; run peak {run_peak:6.0f} MiB "
              f"(ru_maxrss {row['peak']:.0f}); increase {row['increase']:6.1f} MiB; "
              f"wall {row['wall_s']:.1f} s (audio {t.get('audio', 0):.1f}, transcribe "
              f"{t.get('transcribe', 0):.1f}, caption {t.get('caption', 0):.1f})", flush=True)
    if len(rows) >= 2:
        lo, hi = rows[0], rows[-1]
        ratio = hi["increase"] / max(lo["increase"], 1e-9)
        slope = (hi["increase"] - lo["increase"]) / (hi["minutes"] - lo["minutes"])
        print(f"  increase {hi['minutes']:g} min / {lo['minutes']:g} min = {ratio:.2f} "
              f"(goal <= 1.3); {slope:.1f} MiB more per extra minute of video")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="main video length")
    parser.add_argument("--rss-lengths", default="1,10,60", help="minutes, comma-separated")
    parser.add_argument("--skip-rss", action="store_true", help="skip the peak-RSS part")
    parser.add_argument("--keep-cache", action="store_true", help="keep this run's cache folder")
    parser.add_argument("--device", default="cpu", help="torch device, passed through")
    parser.add_argument("--torch-threads", type=int, default=1, help="0: library default")
    parser.add_argument("--real-size", action="store_true", help="the TED talk repeated to "
                        "--minutes with a real-size SmolVLM-256M and real Whisper base "
                        "(benchmarks/real_size.py)")
    parser.add_argument("--captioner", default="transformers",
                        help="--real-size: captioning backends, comma-separated (ratio to the "
                        "first)")
    parser.add_argument(CHILD, type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.real_size:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import real_size

        machine(args)
        real_size.main(args.minutes, [c.strip() for c in args.captioner.split(",") if c.strip()],
                       CACHE / "real-size")
        return
    if args.rss_child is not None:
        rss_child(args.rss_child, args)
        return
    from summarize_video.testing.chat_server import ChatServer

    CACHE.mkdir(parents=True, exist_ok=True)
    started, work = time.perf_counter(), Path(tempfile.mkdtemp(prefix="run-", dir=CACHE))
    machine(args)
    try:
        if not args.skip_rss:  # first, while this process is small: children inherit its peak
            part_rss(args)
        with ChatServer(reply=REPLY) as srv:
            part_main(args, srv, work)
    finally:
        if args.keep_cache:
            print(f"\nkept this run's cache and prompts folder: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}; whole benchmark "
          f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
