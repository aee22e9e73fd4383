"""Library benchmark: ask-library retrieval and export at the scale of a large archive.

A catalog of generated files (default 10,000 files with 200 timeline entries each: captions,
speech, chapters, key moments and a summary, words drawn from a Zipf-like vocabulary) is
written through ``Ledger.record`` (the real tables, index and triggers; no models). Then:

- the ledger's size on disk;
- ``retrieve`` (the passages ``ask-library`` sends) for several questions: seconds each, and
  with an ``--include`` glob;
- ``export`` in each format (jsonl, csv, parquet when pyarrow is installed), all versions and
  ``--latest``: seconds, rows and megabytes.

    PYTHONPATH=$PWD python benchmarks/library.py [--files 10000] [--entries 200] [--keep]

The catalog is built once into ``benchmarks/.cache/library-N-M/`` and reused (``--rebuild``
to make it again).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import time
from pathlib import Path

from summarize_video.catalog.export import FORMATS, export
from summarize_video.catalog.ledger import Ledger
from summarize_video.catalog.retrieval import retrieve
from summarize_video.pipeline.results import Result, VideoInfo
from summarize_video.reasoning.answers import Chapter, KeyMoment
from summarize_video.reasoning.base import Usage
from summarize_video.timeline import Caption
from summarize_video.transcription.base import Segment

CACHE = Path(__file__).resolve().parent / ".cache"
QUESTIONS = ("What did the speaker say about quarterly pricing?",
             "Which lectures show a whiteboard with equations?",
             "where is the budget discussed",
             "zyxwv unknown")


def vocabulary(rng: random.Random, size: int = 6000) -> tuple[list[str], list[float]]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = {"".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(size)}
    known = ["pricing", "quarterly", "whiteboard", "equations", "budget", "speaker", "lecture"]
    # The question's words sit where real topic words do: neither the commonest nor unique.
    ordered = sorted(words - set(known))
    for rank, word in zip((300, 500, 800, 1200, 1500, 2000, 2500), known, strict=True):
        ordered.insert(rank, word)
    weights = [1.0 / (rank + 10) for rank in range(len(ordered))]
    return ordered, weights


def result(index: int, entries: int, rng: random.Random, words: list[str],
           weights: list[float]) -> Result:
    def text(n: int) -> str:
        return " ".join(rng.choices(words, weights, k=n))

    per = max(1, entries // 2 - 8)
    return Result(
        video=VideoInfo(f"/archive/series{index % 50:02d}/talk{index:05d}.mp4", per * 10.0,
                        1280, 720, 25.0, True),
        settings={"caption_model": "bench"}, language="en", summary=text(60),
        captions=tuple(Caption(10.0 * i, text(10)) for i in range(per)),
        transcript=tuple(Segment(10.0 * i, 10.0 * i + 8, text(20)) for i in range(per)),
        usage=Usage(0, 0), timings_s={},
        chapters=tuple(Chapter(60.0 * i, text(4)) for i in range(8)),
        key_moments=tuple(KeyMoment(45.0 * i, text(8)) for i in range(entries - 2 * per - 8)),
        provenance={"models": {"captioner": {"model_id": "bench-captioner"},
                               "transcriber": {"model_id": "bench-whisper"},
                               "reasoner": {"model_id": "bench-llm"}}})


def build(path: Path, files: int, entries: int) -> float:
    rng = random.Random(7)
    words, weights = vocabulary(rng)
    started = time.perf_counter()
    with Ledger(path) as book:
        for i in range(files):
            r = result(i, entries, rng, words, weights)
            book.record(r.video.path, content_hash=f"{i:064x}", settings_fp="bench",
                        status="done", result=r)
            if i and i % 1000 == 0:
                print(f"  {i} files recorded ({time.perf_counter() - started:.0f} s)",
                      file=sys.stderr)
    return time.perf_counter() - started


def size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--entries", type=int, default=200)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the exported files")
    args = parser.parse_args()
    folder = CACHE / f"library-{args.files}-{args.entries}"
    ledger = folder / "ledger.sqlite3"
    if args.rebuild and folder.exists():
        shutil.rmtree(folder)
    if not ledger.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        print(f"building {args.files} files x {args.entries} entries...", file=sys.stderr)
        seconds = build(ledger, args.files, args.entries)
        print(f"catalog written in {seconds:.0f} s")
    print(f"cores {os.cpu_count()}, load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"ledger: {args.files} files, {args.files * args.entries} entries, "
          f"{size_mb(ledger):.0f} MB on disk")
    with Ledger(ledger) as book:
        for question in QUESTIONS:
            for include in ((), ("series07/*",)):
                started = time.perf_counter()
                found = retrieve(question, limit=20, include=include, ledger=book)
                took = time.perf_counter() - started
                where = f" --include {include[0]}" if include else ""
                print(f"retrieve {question[:44]!r:48}{where:22} {len(found):3} passages "
                      f"{took * 1000:8.0f} ms")
    out = folder / "export"
    for fmt in FORMATS:
        if fmt == "parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                print("export parquet: skipped (pyarrow not installed)")
                continue
        for latest in (False, True):
            started = time.perf_counter()
            done = export(out / fmt, format=fmt, latest=latest, ledger=ledger)
            took = time.perf_counter() - started
            print(f"export {fmt:8} {'--latest' if latest else 'all':8} {done.files:6} files "
                  f"{done.entries:9} entries {took:7.1f} s {done.bytes / 1e6:8.1f} MB")
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
