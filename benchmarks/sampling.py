"""Frame-sampling benchmark on long generated videos.

Makes its own videos with PyAV (cached under ``benchmarks/.cache/``), then measures, each in a
fresh child process (wall time and peak memory of the whole process tree):

- ``ours-1``: ``sample_frames(..., workers=1)``
- ``ours-N``: ``sample_frames(...)`` with the default workers (one per core)
- ``cv-read``: naive OpenCV, ``VideoCapture.read`` for every frame, keep those at targets
- ``cv-grab``: OpenCV ``grab`` every frame, ``retrieve`` only those at targets
- ``floor``: PyAV threaded sequential decode of every frame, nothing converted (the decode floor)

Usage::

    python benchmarks/sampling.py                # 10-minute videos (generation is cached)
    python benchmarks/sampling.py --minutes 1    # quick run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"
METHODS = ["floor", "ours-1", "ours-N", "cv-read", "cv-grab"]
MAX_SIDE = 768
EPS = 5e-4


@dataclass
class Video:
    name: str
    codec: str
    ext: str
    width: int
    height: int
    gop: int
    options: dict[str, str] = field(default_factory=dict)
    fps: int = 30
    bit_rate: int | None = None


VIDEOS = [
    Video("h264-1080p-gop250", "libx264", "mp4", 1920, 1080, 250,
          {"preset": "superfast", "crf": "23", "x264-params": "keyint=250:scenecut=0"}),
    Video("h264-1080p-gop600", "libx264", "mp4", 1920, 1080, 600,
          {"preset": "superfast", "crf": "23", "x264-params": "keyint=600:scenecut=0"}),
    Video("vp9-720p", "libvpx-vp9", "webm", 1280, 720, 240,
          {"deadline": "realtime", "cpu-used": "8", "row-mt": "1", "crf": "32", "b": "0"}),
    Video("mpeg4-360p-avi", "mpeg4", "avi", 640, 360, 300, bit_rate=1_200_000),
]


# --- generation -------------------------------------------------------------------------------


def video_path(video: Video, minutes: float, cache: Path) -> Path:
    return cache / f"{video.name}-{minutes:g}min.{video.ext}"


def generate(video: Video, minutes: float, dest: Path) -> None:
    """Moving gradients, drifting noise textures, a little fresh noise, a new palette every
    45 s: cheap to make, not trivially compressible, with motion an encoder can follow."""
    import av
    import numpy as np

    w, h, fps = video.width, video.height, video.fps
    rng = np.random.default_rng(7)
    texture = rng.integers(0, 256, (h // 2, w // 2), dtype=np.uint8).repeat(2, 0).repeat(2, 1)
    texture = np.concatenate([texture, texture], axis=1)
    ramp = (np.arange(2 * w) * 255 // (2 * w)).astype(np.uint8)[None, :]
    vertical = (np.arange(h) * 96 // h).astype(np.uint8)[:, None]
    bw, bh = w // 4, h // 4
    tmp = dest.with_suffix(".part" + dest.suffix)
    with av.open(str(tmp), "w", format=None if video.ext != "avi" else "avi") as out:
        stream = out.add_stream(video.codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.gop_size = video.gop
        if video.bit_rate:
            stream.bit_rate = video.bit_rate
        stream.options = dict(video.options)
        planes = np.empty((h * 3 // 2, w), dtype=np.uint8)
        for i in range(int(minutes * 60 * fps)):
            scene = i // (45 * fps)
            y = planes[:h]
            ox = (i * 6 + scene * 97) % w
            np.add(ramp[:, ox:ox + w] // 2, vertical, out=y)
            for b in range(3):
                bx = (i * (3 + b) + b * w // 3) % (w - bw)
                by = (i * (2 + b) + b * h // 4) % (h - bh)
                tx = (i * 2 + b * 101 + scene * 37) % w
                y[by:by + bh, bx:bx + bw] = texture[by:by + bh, tx:tx + bw]
            y[:64, :64] = rng.integers(0, 256, (64, 64), dtype=np.uint8)
            planes[h:h + h // 4] = 60 + (scene * 53) % 120
            planes[h + h // 4:] = 180 - (scene * 31) % 120
            frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    tmp.replace(dest)


def ensure_videos(minutes: float, cache: Path, names: list[str]) -> dict[str, Path]:
    cache.mkdir(parents=True, exist_ok=True)
    paths = {}
    for video in VIDEOS:
        if video.name not in names:
            continue
        path = video_path(video, minutes, cache)
        if not path.exists():
            t0 = time.perf_counter()
            print(f"generating {path.name} ...", file=sys.stderr, flush=True)
            generate(video, minutes, path)
            print(f"  {time.perf_counter() - t0:.0f} s, {path.stat().st_size / 1e6:.0f} MB",
                  file=sys.stderr, flush=True)
        paths[video.name] = path
    return paths


# --- methods (run in a child process) ---------------------------------------------------------


def run_method(method: str, path: str, interval: float) -> dict[str, Any]:
    if method.startswith("ours"):
        from summarize_video.media.frames import SamplingStats, sample_frames

        stats = SamplingStats()
        workers = 1 if method == "ours-1" else None
        t0, c0 = time.perf_counter(), _cpu_s()
        kept = sum(1 for _ in sample_frames(path, interval, max_side=MAX_SIDE,
                                            workers=workers, stats=stats))
        wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
        return {"wall": wall, "cpu": cpu, "kept": kept, "decoded": stats.decoded,
                "minimum": stats.minimum, "packets": stats.packets, "mode": stats.mode,
                "workers": stats.workers, "seeks": stats.seeks}
    if method == "floor":
        import av

        t0, c0 = time.perf_counter(), _cpu_s()
        with av.open(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            decoded = sum(1 for _ in container.decode(stream))
        return {"wall": time.perf_counter() - t0, "cpu": _cpu_s() - c0, "kept": 0,
                "decoded": decoded}
    if method in ("cv-read", "cv-grab"):
        import cv2

        t0, c0 = time.perf_counter(), _cpu_s()
        cap = cv2.VideoCapture(path)
        kept = decoded = 0
        next_target = 0.0
        while True:
            if method == "cv-read":
                ok, image = cap.read()
            else:
                ok, image = cap.grab(), None
            if not ok:
                break
            decoded += 1
            t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if kept and t < next_target - EPS:
                continue
            if image is None:
                ok, image = cap.retrieve()
            _cv_convert(cv2, image)
            kept += 1
            next_target = (int((max(t, 0.0) + EPS) // interval) + 1) * interval
        cap.release()
        return {"wall": time.perf_counter() - t0, "cpu": _cpu_s() - c0, "kept": kept,
                "decoded": decoded}
    raise SystemExit(f"unknown method {method}")


def _cv_convert(cv2: Any, image: Any) -> Any:
    """What a sampler must do with a kept frame: RGB, longest side <= MAX_SIDE."""
    h, w = image.shape[:2]
    scale = min(1.0, MAX_SIDE / max(w, h))
    if scale < 1.0:
        image = cv2.resize(image, (round(w * scale), round(h * scale)),
                           interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def child_main(method: str, path: str, interval: float) -> None:
    # "cpu": CPU seconds of this process and its workers, what the work cost whatever else the
    # machine was running (wall time on a shared machine also measures the neighbours).
    result = run_method(method, path, interval)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result["rss_self_mb"] = own / 1024
    result["rss_children_mb"] = kids / 1024
    print("RESULT " + json.dumps(result), flush=True)


# --- measuring --------------------------------------------------------------------------------


def _tree_rss_mb(pid: int) -> float:
    """RSS of a process and all its descendants (Linux /proc), in MB."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            continue
    return total / 1024


def measure_best(method: str, path: Path, interval: float, repeat: int) -> dict[str, Any]:
    """The fastest of ``repeat`` runs (the machine may be shared: noise only slows down).
    OpenCV methods run once: they decode everything whatever the interval."""
    repeat = 1 if method.startswith("cv") else max(1, repeat)
    runs = [measure(method, path, interval) for _ in range(repeat)]
    ok = [r for r in runs if "error" not in r]
    return min(ok, key=lambda r: r["wall"]) if ok else runs[0]


def measure(method: str, path: Path, interval: float) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.Popen([sys.executable, __file__, "--child", method, str(path),
                             str(interval)], stdout=subprocess.PIPE, text=True, env=env)
    peak = 0.0
    done = threading.Event()

    def poll() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_mb(proc.pid))
            done.wait(0.02)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    out, _ = proc.communicate()
    done.set()
    watcher.join()
    line = next((x for x in out.splitlines() if x.startswith("RESULT ")), None)
    if proc.returncode or line is None:
        return {"error": f"exit {proc.returncode}"}
    result = json.loads(line[7:])
    result["peak_mb"] = peak or result["rss_self_mb"] + result["rss_children_mb"]
    return result


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.machine()}, {os.cpu_count()} cores ({usable} usable), {model}; "
            f"load {load:.1f}; Python {platform.python_version()}")


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def _fmt(x: float | None, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="length of each video")
    ap.add_argument("--cache", type=Path, default=CACHE, help="where generated videos live")
    ap.add_argument("--intervals", default="1,5,30", help="comma-separated seconds")
    ap.add_argument("--videos", default=",".join(v.name for v in VIDEOS))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--repeat", type=int, default=1, help="runs per cell; the fastest counts")
    ap.add_argument("--generate-only", action="store_true")
    ap.add_argument("--child", nargs=3, metavar=("METHOD", "PATH", "INTERVAL"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child_main(args.child[0], args.child[1], float(args.child[2]))
        return
    intervals = [float(x) for x in args.intervals.split(",")]
    methods = args.methods.split(",")
    paths = ensure_videos(args.minutes, args.cache, args.videos.split(","))
    if args.generate_only:
        return
    print(f"machine: {machine()}")
    print(f"videos: {args.minutes:g} min each, 30 fps; frames kept at <= {MAX_SIDE} px; "
          f"fastest of {args.repeat} run(s) per cell\n")
    head = (f"{'video':<19} {'int':>4} {'method':<8} {'wall s':>7} {'cpu s':>7} {'peak MB':>8} "
            f"{'kept':>5} {'decoded':>8} {'minimum':>8} {'dec/min':>7} {'/floor':>6} "
            f"{'cpu/fl':>6} {'seeks':>5}  mode")
    print(head)
    print("-" * len(head))
    results: dict[tuple[str, float, str], dict[str, Any]] = {}
    for name, path in paths.items():
        floor = measure_best("floor", path, 0.0, args.repeat) if "floor" in methods else {}
        for interval in intervals:
            for method in methods:
                r = floor if method == "floor" else measure_best(method, path, interval,
                                                                 args.repeat)
                results[name, interval, method] = r
                if "error" in r:
                    print(f"{name:<19} {interval:>4g} {method:<8} {r['error']}")
                    continue
                print(f"{name:<19} {interval:>4g} {method:<8} {r['wall']:>7.2f} "
                      f"{r['cpu']:>7.2f} {r['peak_mb']:>8.0f} {r['kept']:>5} {r['decoded']:>8} "
                      f"{_fmt(r.get('minimum'), 'd'):>8} "
                      f"{_fmt(_ratio(r['decoded'], r.get('minimum'))):>7} "
                      f"{_fmt(_ratio(r['wall'], floor.get('wall'))):>6} "
                      f"{_fmt(_ratio(r['cpu'], floor.get('cpu'))):>6} "
                      f"{_fmt(r.get('seeks'), 'd'):>5}  {r.get('mode', '')}", flush=True)
        print()
    summarize(results, list(paths), intervals)
    print(f"machine at the end: {machine()}")


def summarize(results: dict[tuple[str, float, str], dict[str, Any]], names: list[str],
              intervals: list[float]) -> None:
    def get(name: str, interval: float, method: str, key: str) -> float | None:
        return results.get((name, interval, method), {}).get(key)

    def pair(num: tuple[float, str], den: tuple[float, str], key: str) -> str:
        """ours-1/ours-N figures of one ratio, e.g. naive-OpenCV wall / ours wall."""
        out = []
        for m in ("ours-1", "ours-N"):
            a = get(name, num[0], num[1].replace("ours", m), key)
            b = get(name, den[0], den[1].replace("ours", m), key)
            out.append(_fmt(_ratio(a, b)))
        return "/".join(out)

    print("goals, as ours-1/ours-N, on wall time [and on CPU time]:")
    for name in names:
        parts = []
        dec = [_ratio(get(name, i, m, "decoded"), get(name, i, m, "minimum"))
               for i in intervals for m in ("ours-1", "ours-N")]
        dec = [d for d in dec if d]
        if dec:
            parts.append(f"decoded/minimum max {max(dec):.2f} (goal <= 1.1)")
        if 5.0 in intervals:
            parts.append(f"naive-cv/ours @5s {pair((5.0, 'cv-read'), (5.0, 'ours'), 'wall')} "
                         f"[{pair((5.0, 'cv-read'), (5.0, 'ours'), 'cpu')}] (goal >= 2)")
        if 30.0 in intervals:
            parts.append(f"floor/ours @30s {pair((30.0, 'floor'), (30.0, 'ours'), 'wall')} "
                         f"[{pair((30.0, 'floor'), (30.0, 'ours'), 'cpu')}] (goal >= 4)")
        for key in ("wall", "cpu"):
            worst = [_ratio(get(name, i, m, key), get(name, i, "floor", key))
                     for i in intervals for m in ("ours-1", "ours-N")]
            worst = [w for w in worst if w]
            if worst:
                parts.append(f"ours/floor worst ({key}) {max(worst):.2f} (goal <= 1.1)")
        speedup = "/".join(_fmt(_ratio(get(name, i, "ours-1", "wall"),
                                       get(name, i, "ours-N", "wall"))) for i in intervals)
        parts.append(f"wall ours-1/ours-N {speedup} @{'/'.join(f'{i:g}' for i in intervals)}s "
                     "(goal >= 1.6)")
        print(f"  {name}:\n    " + "\n    ".join(parts))


if __name__ == "__main__":
    main()
