"""Fuzzing: damaged variants of the real shared media, each through the CLI in a child process.

Derives ``--n`` variants of the files in the shared media folder (truncations, bit flips,
zeroed headers, zeroed blocks, splices of two files, repeated chunks), seeded so that a run can
be repeated, and runs ``python -m summarize_video`` on each in its own process with a timeout,
with the tiny random-weight models and the local chat-completions server. Then it runs the
same variants as batches (folders of ``--batch-size`` variants plus two good clips each).

It prints, with the goal of zero for each:

- **hangs**: a child still running at ``--timeout`` (killed);
- **tracebacks**: a child whose output holds a Python traceback, or that exits with a code
  the README does not document (0, 1, 2, 130) or on a signal;
- **batch crashes**: a batch run that hangs, shows a traceback or ends with another code
  than 0 or 1;
- **outputs lost**: a file that succeeded alone but has no output in its batch, a good clip of
  a batch without output, an output that is not valid JSON, or a failed file that left one.

and, for information, how the variants ended: summarized, refused (exit 1) by stage, and how
many were stopped by the decoding watchdog. Usage, from the repository root::

    PYTHONPATH=$PWD HF_HUB_OFFLINE=1 python benchmarks/fuzz.py            # N = 500
    PYTHONPATH=$PWD HF_HUB_OFFLINE=1 python benchmarks/fuzz.py --n 40     # quick look
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"
MEDIA = ROOT.parent / "shared" / "media"
EXTENSIONS = {".mp4", ".mkv", ".webm", ".avi", ".mov", ".3gp", ".mpg", ".ogg", ".wav", ".mp3",
              ".flac", ".m4a"}
DOCUMENTED_EXITS = {0, 1, 2, 130}
KINDS = ("truncate", "bitflip", "zero_header", "zero_block", "splice", "repeat")
ERROR_LINE = re.compile(r"(?P<stage>[a-z]+): (?P<message>.*)$")


@dataclass
class Outcome:
    variant: Path
    code: int | None  # None: hung
    seconds: float
    stderr: str
    output: Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=500, help="variants to make and run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds a child may run")
    ap.add_argument("--decode-timeout", type=float, default=15.0,
                    help="the CLI's --decode-timeout for every run")
    ap.add_argument("--jobs", type=int, default=2, help="children at once")
    ap.add_argument("--batch-size", type=int, default=50, help="variants per batch run")
    ap.add_argument("--max-mb", type=float, default=8.0, help="largest source file used")
    ap.add_argument("--media", type=Path, default=MEDIA)
    ap.add_argument("--keep", action="store_true", help="keep the variants and outputs")
    args = ap.parse_args()
    if not args.media.is_dir():
        sys.exit(f"no shared media at {args.media}")
    sources = sorted(p for p in args.media.rglob("*") if p.suffix.lower() in EXTENSIONS
                     and p.stat().st_size <= args.max_mb * 1e6)
    from summarize_video.testing.chat_server import ChatServer
    from summarize_video.testing.tiny_models import kept_smolvlm_and_whisper

    CACHE.mkdir(parents=True, exist_ok=True)
    tiny = kept_smolvlm_and_whisper(CACHE / "models")
    work = Path(tempfile.mkdtemp(prefix="fuzz-", dir=CACHE))
    rng = random.Random(args.seed)
    variants = [make_variant(i, rng, sources, work / "variants") for i in range(args.n)]
    good = make_good_clip(work / "good.mp4")
    print(f"machine: {os.cpu_count()} cores; {len(sources)} source files; {args.n} variants "
          f"(seed {args.seed}) in {work}", flush=True)
    started = time.monotonic()
    with ChatServer(reply="Fuzz summary.") as server:
        common = [*model_args(tiny), "--base-url", server.base_url, "--format", "json",
                  "--no-cache", "--decode-timeout", str(args.decode_timeout),
                  "--interval", "2"]
        env = dict(os.environ, SUMMARIZE_VIDEO_NO_COLOR="1", NO_COLOR="1", COLUMNS="300",
                   OPENAI_API_KEY="fuzz-key")
        env.pop("SUMMARIZE_VIDEO_DEBUG", None)

        def one(i_v: tuple[int, Path]) -> Outcome:
            i, v = i_v
            out = work / "out" / f"{i:04d}"
            return run_cli([str(v)], out, common, env, args.timeout, v)

        with ThreadPoolExecutor(args.jobs) as pool:
            alone = []
            for k, outcome in enumerate(pool.map(one, enumerate(variants)), 1):
                alone.append(outcome)
                if k % 50 == 0:
                    print(f"  {k}/{len(variants)} single runs, "
                          f"{time.monotonic() - started:.0f} s", flush=True)
        single_s = time.monotonic() - started
        batches = batch_runs(variants, good, work, common, env, args, alone)
    report(alone, batches, single_s, time.monotonic() - started - single_s, args)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def model_args(tiny: dict[str, Path]) -> list[str]:
    return ["--caption-model", str(tiny["smolvlm"]), "--whisper-model", str(tiny["whisper"]),
            "--device", "cpu", "--temperature-increment", "0", "--dedup-threshold", "0",
            "--compression-ratio-threshold", "0"]


def run_cli(inputs: list[str], out: Path, common: list[str], env: dict[str, str],
            timeout: float, variant: Path) -> Outcome:
    t0 = time.monotonic()
    cmd = [sys.executable, "-m", "summarize_video", *common, "--output-dir", str(out),
           "--ledger", str(out.parent / f"{out.name}.ledger.sqlite"), "--", *inputs]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    try:
        _, err = proc.communicate(timeout=timeout)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        _, err = proc.communicate()
        code = None
    return Outcome(variant, code, time.monotonic() - t0, err or "", out)


# --- variants ---------------------------------------------------------------------------


def make_variant(i: int, rng: random.Random, sources: list[Path], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    kind = KINDS[i % len(KINDS)]
    src = rng.choice(sources)
    data = bytearray(src.read_bytes())
    n = len(data)
    if kind == "truncate":
        data = data[: rng.randint(1, max(1, n - 1))]
    elif kind == "bitflip":
        for _ in range(rng.randint(1, 64)):
            at = rng.randrange(min(n, 65536)) if rng.random() < 0.7 else rng.randrange(n)
            data[at] ^= 1 << rng.randrange(8)
    elif kind == "zero_header":
        length = rng.choice([4, 8, 16, 64, 512, 4096])
        at = rng.randrange(min(n, 8192))
        data[at:at + length] = bytes(len(data[at:at + length]))
    elif kind == "zero_block":
        length = rng.randint(4096, 65536)
        at = rng.randrange(n)
        data[at:at + length] = bytes(len(data[at:at + length]))
    elif kind == "splice":
        other = bytearray(rng.choice(sources).read_bytes())
        data = data[: rng.randrange(1, n)] + other[rng.randrange(len(other)):]
    else:  # repeat: a chunk written twice, as a buggy copy or a resumed download does
        start = rng.randrange(n)
        chunk = data[start:start + rng.randint(1024, 262144)]
        data = data[:start] + chunk + data[start:]
    dest = folder / f"{i:04d}_{kind}_{src.stem[:40]}{src.suffix.lower()}"
    dest.write_bytes(bytes(data))
    return dest


def make_good_clip(dest: Path) -> Path:
    import av
    import numpy as np

    with av.open(str(dest), "w") as c:
        v = c.add_stream("libx264", rate=10)
        v.width, v.height, v.pix_fmt = 160, 120, "yuv420p"
        for i in range(30):
            img = np.full((120, 160, 3), (i * 8) % 256, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            c.mux(v.encode(frame))
        c.mux(v.encode(None))
    return dest


# --- batches ----------------------------------------------------------------------------


@dataclass
class BatchOutcome:
    run: Outcome
    lost: list[str]


def batch_runs(variants: list[Path], good: Path, work: Path, common: list[str],
               env: dict[str, str], args: argparse.Namespace, alone: list[Outcome]
               ) -> list[BatchOutcome]:
    by_variant = {o.variant: o for o in alone}
    results = []
    size = max(1, args.batch_size)
    for b in range(0, len(variants), size):
        folder = work / "batches" / f"in{b // size:03d}"
        folder.mkdir(parents=True)
        members = variants[b:b + size]
        for v in members:
            os.link(v, folder / v.name)
        for k in (0, 1):
            shutil.copyfile(good, folder / f"zz_good{k}.mp4")
        out = work / "batches" / f"out{b // size:03d}"
        run = run_cli([str(folder)], out, common, env, args.timeout * (len(members) + 2),
                      folder)
        lost = []
        for v in members:
            expected = out / f"{v.stem}.summary.json"
            ok_alone = by_variant[v].code == 0
            if ok_alone and not expected.exists():
                lost.append(f"{v.name}: summarized alone, no output in the batch")
            if expected.exists() and not valid_json(expected):
                lost.append(f"{v.name}: output is not valid JSON")
        for k in (0, 1):
            expected = out / f"zz_good{k}.summary.json"
            if not (expected.exists() and valid_json(expected)):
                lost.append(f"zz_good{k}.mp4: good clip without output")
        results.append(BatchOutcome(run, lost))
        print(f"  batch {b // size + 1}: exit {run.code}, {run.seconds:.0f} s, "
              f"{len(lost)} lost", flush=True)
    return results


def valid_json(path: Path) -> bool:
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


# --- report -----------------------------------------------------------------------------


def report(alone: list[Outcome], batches: list[BatchOutcome], single_s: float,
           batch_s: float, args: argparse.Namespace) -> None:
    hangs = [o for o in alone if o.code is None]
    tracebacks = [o for o in alone if o.code is not None and (
        "Traceback" in o.stderr or o.code not in DOCUMENTED_EXITS)]
    lost = []
    for o in alone:
        expected = o.output / f"{o.variant.stem}.summary.json"
        if o.code == 0 and not (expected.exists() and valid_json(expected)):
            lost.append(f"{o.variant.name}: exit 0 without a valid output")
        if o.code not in (0, None) and expected.exists():
            lost.append(f"{o.variant.name}: failed but left an output")
    crashes = [b for b in batches if b.run.code not in (0, 1) or "Traceback" in b.run.stderr]
    lost += [x for b in batches for x in b.lost]
    codes = Counter("hung" if o.code is None else str(o.code) for o in alone)
    stages: Counter[str] = Counter()
    watchdog = 0
    for o in alone:
        if o.code == 1:
            stages[failure_stage(o)] += 1
            watchdog += "no progress for" in o.stderr
    kinds = Counter(next(k for k in KINDS if o.variant.name[5:].startswith(k)) for o in alone)
    print()
    print(f"variants tried      {len(alone)}  ({', '.join(f'{k} {n}' for k, n in kinds.items())})")
    print(f"hangs               {len(hangs)}")
    print(f"tracebacks          {len(tracebacks)}")
    print(f"batch crashes       {len(crashes)}  (of {len(batches)} batch runs)")
    print(f"outputs lost        {len(lost)}")
    print(f"exit codes          {dict(sorted(codes.items()))}")
    print(f"refused, by stage   {dict(stages.most_common())}")
    print(f"stopped by watchdog {watchdog}  (--decode-timeout {args.decode_timeout:g})")
    slowest = max(alone, key=lambda o: o.seconds)
    print(f"time                {single_s / 60:.1f} min single runs ({args.jobs} at once), "
          f"{batch_s / 60:.1f} min batches; slowest single run {slowest.seconds:.0f} s "
          f"({slowest.variant.name})")
    for title, items in (("hung", [o.variant.name for o in hangs]),
                         ("traceback", [f"{o.variant.name} (exit {o.code})" for o in tracebacks]),
                         ("batch crash", [f"{b.run.variant.name} (exit {b.run.code})"
                                          for b in crashes]),
                         ("lost", lost)):
        for item in items[:20]:
            print(f"  {title}: {item}")


def failure_stage(o: Outcome) -> str:
    name = o.variant.name
    for line in o.stderr.splitlines():
        if name in line:
            m = ERROR_LINE.search(line.split(name, 1)[1].lstrip(": "))
            if m:
                return m.group("stage")
    return "?"


if __name__ == "__main__":
    main()
