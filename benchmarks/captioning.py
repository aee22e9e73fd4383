"""CPU captioning speed of the default captioner's architecture, backend against backend.

Builds a model with the real dimensions of SmolVLM-256M-Instruct (random weights: compute does
not depend on them) and saves it with ``save_pretrained`` together with a processor and a
49280-word tokenizer, so every backend loads it through the project's own ``from_pretrained``
code. Then captions the same real frames of a shared video with each candidate, all with the
same number of new tokens (a row's end token is never chosen: ``min_new_tokens`` is forced by
banning the end token, so every frame decodes exactly ``--tokens`` steps), and prints seconds
per frame and the ratio to PyTorch fp32 measured in the same run. Usage::

    PYTHONPATH=$PWD python benchmarks/captioning.py                  # 8 frames, 30 and 60 tokens
    PYTHONPATH=$PWD python benchmarks/captioning.py --frames 4 --tokens 30 --only pt-fp32,onnx-int8

Candidates: ``pt-fp32`` (today's path), ``pt-bf16``, ``pt-int8`` (torch dynamic int8 on the
linear layers), ``onnx-fp32`` / ``onnx-int8`` (the ``onnx`` captioner; int8: static int8
vision encoder on OpenVINO), ``onnx-int8dyn`` (its int8 before: dynamic int8 vision encoder on
onnxruntime), ``openvino-fp32`` /
``openvino-bf16`` (our fp32 ONNX export compiled by OpenVINO with that inference precision,
when installed), ``openvino-int8`` (the onnx captioner's int8 graphs compiled by OpenVINO).
The model and the conversions are kept in ``benchmarks/.cache/captioning/`` between runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from summarize_video.testing.real_size_models import build_real_size_smolvlm

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache" / "captioning"
MEDIA = Path(os.environ.get("SUMMARIZE_VIDEO_MEDIA", ROOT.parent / "shared" / "media"))
VIDEO = "speech_video/talk_ted_clip_hardsubs_videolingo_demo.mp4"
CANDIDATES = ("pt-fp32", "pt-bf16", "pt-int8", "onnx-fp32", "onnx-int8dyn", "onnx-int8",
              "openvino-fp32", "openvino-bf16", "openvino-int8")


def real_frames(count: int) -> list[Any]:
    from summarize_video.media.frames import sample_frames

    path = MEDIA / VIDEO
    if not path.is_file():
        sys.exit(f"{path} not found: set SUMMARIZE_VIDEO_MEDIA to the shared media folder")
    frames = list(sample_frames(path, interval=2.0, workers=1))
    step = max(1, len(frames) // count)
    return frames[::step][:count]


def make_captioner(name: str, model: Path, tokens: int, batch: int) -> Any:
    from summarize_video.captioning.onnx import OnnxCaptioner
    from summarize_video.captioning.transformers import TransformersCaptioner

    common = {"device": "cpu", "batch_size": batch, "max_new_tokens": tokens}
    backend, precision = name.split("-")
    if backend == "pt":
        captioner = TransformersCaptioner(str(model), **common)
        captioner.load()
        if precision == "bf16":
            import torch

            captioner._model.to(torch.bfloat16)
            captioner._dtype = torch.bfloat16
        elif precision == "int8":
            import torch

            captioner._model = torch.ao.quantization.quantize_dynamic(
                captioner._model, {torch.nn.Linear}, dtype=torch.qint8)
        return captioner
    exported = {"bf16": "fp32", "int8dyn": "int8"}.get(precision, precision)
    captioner = OnnxCaptioner(str(model), precision=exported, cache_dir=CACHE, **common)
    start = time.perf_counter()
    captioner.load()
    if captioner.runtime != "onnxruntime":
        raise RuntimeError("the onnx route was not taken")
    print(f"  {name:14s} loaded (converted: {captioner.converted}) in "
          f"{time.perf_counter() - start:.1f} s, vision on {captioner._ort.vision_runtime}")
    if precision == "int8dyn":
        use_dynamic_vision(captioner)
    if backend == "openvino":
        use_openvino(captioner, "f32" if precision == "fp32" else "bf16")
    return captioner


class _OpenVinoSession:
    """An OpenVINO compiled model with onnxruntime's ``run(None, feeds)`` call."""

    def __init__(self, path: Path, threads: int, precision: str) -> None:
        import openvino as ov

        core = ov.Core()
        self.model = core.compile_model(str(path), "CPU", {
            "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": precision})

    def run(self, _names: Any, feeds: dict[str, Any]) -> list[Any]:
        result = self.model(feeds)
        return [result[out] for out in self.model.outputs]


def use_openvino(captioner: Any, precision: str) -> None:
    """Run the onnx captioner's converted graphs with OpenVINO instead of onnxruntime."""
    import torch

    folder, threads = captioner.conversion_dir, max(1, torch.get_num_threads())
    captioner._ort.vision = _OpenVinoSession(folder / "vision.onnx", threads, precision)
    captioner._ort.decoder = _OpenVinoSession(folder / "decoder.onnx", threads, precision)


def use_dynamic_vision(captioner: Any) -> None:
    """The int8 vision graph before static int8: dynamic int8 on onnxruntime."""
    import onnxruntime as ort
    import torch

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, torch.get_num_threads())
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    captioner._ort.vision = ort.InferenceSession(str(captioner.conversion_dir / "vision.onnx"),
                                                 opts, providers=["CPUExecutionProvider"])


def fixed_length(captioner: Any) -> None:
    """Ban the end token so that every frame decodes exactly max_new_tokens steps."""
    eos = captioner._processor.tokenizer.eos_token_id
    captioner._model.generation_config.eos_token_id = -1  # never matched by onnx's loop
    original = captioner._generation_kwargs

    def kwargs(prompt_length: int = 0) -> dict[str, Any]:
        out = original(prompt_length)
        out["min_new_tokens"] = captioner.max_new_tokens
        out["eos_token_id"] = eos
        return out

    captioner._generation_kwargs = kwargs


def measure(captioner: Any, frames: list[Any], repeats: int) -> tuple[float, float]:
    """Wall and CPU seconds per frame (the best of ``repeats``, after a warm-up batch). CPU
    time is what to compare on cores shared with other work."""
    captioner.caption(frames[: captioner.batch_size])  # warm-up
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        captioner.caption(frames)
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
    return best / len(frames), best_cpu / len(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--tokens", default="30,60")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--only", default=",".join(CANDIDATES))
    parser.add_argument("--threads", type=int, default=0,
                        help="torch and runtime threads (0: one per usable core); 1 makes "
                        "CPU-time ratios trustworthy on busy shared cores")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import torch

    from summarize_video.devices import configure_cpu_threads

    configure_cpu_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__} with {torch.get_num_threads()} threads, "
          f"load {os.getloadavg()[0]:.2f}")
    model = build_real_size_smolvlm(CACHE / "smolvlm-256m-random")
    frames = real_frames(args.frames)
    print(f"{len(frames)} frames of {VIDEO}, batch {args.batch}")
    wanted = [c for c in args.only.split(",") if c]
    for tokens in (int(t) for t in args.tokens.split(",")):
        results: dict[str, tuple[float, float]] = {}
        for name in wanted:
            try:
                captioner = make_captioner(name, model, tokens, args.batch)
            except Exception as exc:  # a runtime that is not installed or cannot convert
                print(f"  {name:14s} skipped: {str(exc).splitlines()[0][:120]}")
                continue
            fixed_length(captioner)
            results[name] = wall, cpu = measure(captioner, frames, args.repeats)
            base = results.get("pt-fp32")
            ratios = f"{base[0] / wall:5.2f}x  {base[1] / cpu:5.2f}x" if base else "   -       - "
            print(f"  {tokens} tokens  {name:14s} wall {wall:6.3f} s/frame  cpu {cpu:6.3f} "
                  f"s/frame  ratio to pt-fp32 (wall, cpu) {ratios}  load "
                  f"{os.getloadavg()[0]:.1f}", flush=True)
            del captioner


if __name__ == "__main__":
    main()
