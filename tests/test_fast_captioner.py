"""The onnx captioner: Idefics3/SmolVLM converted once to ONNX and run by onnxruntime.

The tiny random Idefics3 loads through the same ``from_pretrained`` code as the PyTorch
backend and goes through the real export, the real on-disk conversion cache and onnxruntime.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from summarize_video.captioning.onnx import OnnxCaptioner
from summarize_video.captioning.registry import create_captioner, resolve_captioner
from summarize_video.captioning.transformers import TransformersCaptioner
from summarize_video.cli.main import cli
from summarize_video.errors import ConfigError
from summarize_video.media.frames import Frame, sample_frames
from summarize_video.options import Options
from summarize_video.pipeline.fingerprint import caption_key
from tests.clips import make_clip
from tests.support import cli_args, media_file

TED = "speech_video/talk_ted_clip_hardsubs_videolingo_demo.mp4"
PORTRAIT = "noaudio_video/noaudio_selfie_portrait_720x1280_liveportrait_d13.mp4"
ONNX_LOG = "summarize_video.captioning.onnx"


def real_frames() -> list[Frame]:
    """Landscape and portrait frames of two shared videos (skips when absent)."""
    ted = list(sample_frames(media_file(TED), interval=4.0, workers=1))[:4]
    portrait = list(sample_frames(media_file(PORTRAIT), interval=4.0, workers=1))[:2]
    return [*ted, *portrait]


def onnx_captioner(model: Path, cache: Path, precision: str = "fp32", **kw: Any) -> OnnxCaptioner:
    return OnnxCaptioner(str(model), device="cpu", precision=precision, cache_dir=cache, **kw)


def test_fp32_greedy_captions_equal_the_pytorch_backend_on_real_frames(
        tiny_models: dict[str, Path], tmp_path: Path) -> None:
    frames = real_frames()
    # Speech for some frames: prompts of different lengths, so batches are left-padded.
    contexts = ["", "the speaker talks about ideas and the future of work", None,
                "thank you", "", "hello there everyone"]
    ref = TransformersCaptioner(str(tiny_models["smolvlm"]), device="cpu", batch_size=3)
    fast = onnx_captioner(tiny_models["smolvlm"], tmp_path, batch_size=3)
    expected = ref.caption(frames, contexts)
    got = fast.caption(frames, contexts)
    assert fast.runtime == "onnxruntime" and fast.converted
    assert got == expected
    assert all(got)
    assert fast.caption(frames) == ref.caption(frames)


def test_int8_runs_on_onnxruntime_and_captions_every_frame(
        tiny_models: dict[str, Path], tmp_path: Path) -> None:
    frames = real_frames()
    fast = onnx_captioner(tiny_models["smolvlm"], tmp_path, precision="int8", batch_size=4)
    captions = fast.caption(frames)
    assert fast.runtime == "onnxruntime" and fast.compute_type == "int8"
    assert len(captions) == len(frames) and all(captions)
    folder = fast.conversion_dir
    assert folder is not None and "int8" in folder.name
    assert sorted(p.name for p in folder.iterdir()) == ["decoder.onnx", "meta.json",
                                                        "vision.int8-static.onnx",
                                                        "vision.onnx"]


def test_sessions_follow_the_threads_captioning_may_use(
        tiny_models: dict[str, Path], tmp_path: Path) -> None:
    """While transcription runs captioning gets a share of the cores, then all of them: the
    sessions (their threads fixed when they open) follow, one set per count, opened once."""
    import torch

    from summarize_video.devices import available_cpus

    if available_cpus() < 2:
        pytest.skip("needs two usable cores")
    frames = real_frames()[:2]
    fast = onnx_captioner(tiny_models["smolvlm"], tmp_path, precision="fp32", batch_size=2)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        first = fast.caption(frames)
        torch.set_num_threads(2)
        assert fast.caption(frames) == first
        torch.set_num_threads(1)
        fast.caption(frames)
    finally:
        torch.set_num_threads(before)
    assert sorted(fast._runtimes) == [1, 2]
    opened = {n: [rt.decoder.get_session_options().intra_op_num_threads for rt in rts]
              for n, rts in fast._runtimes.items()}
    assert opened == {1: [1], 2: [2]}


def test_two_lanes_caption_at_once_on_runtimes_of_their_own(
        tiny_models: dict[str, Path], tmp_path: Path) -> None:
    """The pipeline's caption lanes call ``caption`` from two threads at once: each call
    takes a runtime no other thread uses meanwhile (a second one opens, sharing the token
    embeddings), and the captions are those of one call after the other."""
    import threading

    import torch

    frames = real_frames()[:4]
    fast = onnx_captioner(tiny_models["smolvlm"], tmp_path, precision="fp32", batch_size=2)
    torch.set_num_threads(1)
    alone = [fast.caption(frames[:2]), fast.caption(frames[2:])]
    assert fast.concurrent_batches and len(fast._runtimes[1]) == 1
    with fast._runtime_now() as held:  # in use: the next call opens a second runtime
        assert fast.caption(frames[:2]) == alone[0]
    runtimes = fast._runtimes[1]
    assert len(runtimes) == 2 and held is runtimes[0] and runtimes[1].embed is held.embed
    got: dict[int, list[str]] = {}
    start = threading.Barrier(2)

    def lane(k: int) -> None:
        torch.set_num_threads(1)
        start.wait()
        for _ in range(3):
            got[k] = fast.caption(frames[2 * k:2 * k + 2])

    lanes = [threading.Thread(target=lane, args=(k,)) for k in (0, 1)]
    for t in lanes:
        t.start()
    for t in lanes:
        t.join()
    assert [got[0], got[1]] == alone
    assert len(fast._runtimes[1]) == 2  # two lanes at most: two runtimes
    assert sorted(map(id, fast._idle[1])) == sorted(map(id, runtimes))  # all given back


def test_conversion_is_cached_and_reused_without_a_new_export(
        tiny_models: dict[str, Path], tmp_path: Path, clip: Path) -> None:
    frames = list(sample_frames(clip, interval=1.0, workers=1))[:2]
    first = onnx_captioner(tiny_models["smolvlm"], tmp_path)
    captions = first.caption(frames)
    folder = first.conversion_dir
    assert first.converted and folder is not None and folder.parent == tmp_path / "converted"
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.glob("*.onnx")}

    second = onnx_captioner(tiny_models["smolvlm"], tmp_path)
    assert second.caption(frames) == captions
    assert not second.converted and second.conversion_dir == folder
    assert {p.name: p.stat().st_mtime_ns for p in folder.glob("*.onnx")} == stamps
    assert json.loads((folder / "meta.json").read_text())["reused"] == 1
    # Another precision is another conversion beside it; nothing half-made is left around.
    onnx_captioner(tiny_models["smolvlm"], tmp_path, precision="int8").load()
    names = sorted(p.name.split("-")[1] for p in (tmp_path / "converted").iterdir())
    assert names == ["fp32", "int8"]


def test_an_interrupted_conversion_is_never_read_and_is_redone(
        tiny_models: dict[str, Path], tmp_path: Path, clip: Path) -> None:
    frames = list(sample_frames(clip, interval=1.0, workers=1))[:1]
    good = onnx_captioner(tiny_models["smolvlm"], tmp_path)
    expected = good.caption(frames)
    folder = good.conversion_dir
    assert folder is not None
    # What a crash mid-conversion leaves: a folder with a truncated graph and no meta.json.
    (folder / "meta.json").unlink()
    (folder / "decoder.onnx").write_bytes(b"\x08\x07trunc")
    again = onnx_captioner(tiny_models["smolvlm"], tmp_path)
    assert again.caption(frames) == expected
    assert again.converted and again.runtime == "onnxruntime"
    assert (folder / "meta.json").is_file()


def test_a_failed_conversion_falls_back_to_pytorch_with_one_warning(
        tiny_models: dict[str, Path], tmp_path: Path, clip: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    frames = list(sample_frames(clip, interval=1.0, workers=1))[:2]
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")
    fast = onnx_captioner(tiny_models["smolvlm"], blocked)
    with caplog.at_level(logging.DEBUG):
        captions = fast.caption(frames)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].name == ONNX_LOG
    message = warnings[0].getMessage()
    assert "PyTorch" in message and "\n" not in message
    assert fast.runtime == "pytorch"
    ref = TransformersCaptioner(str(tiny_models["smolvlm"]), device="cpu")
    assert captions == ref.caption(frames)


@pytest.mark.parametrize("family", ["blip", "florence2"])
def test_other_families_stay_on_pytorch(tiny_models: dict[str, Path], tmp_path: Path,
                                        clip: Path, family: str,
                                        caplog: pytest.LogCaptureFixture) -> None:
    frames = list(sample_frames(clip, interval=1.0, workers=1))[:2]
    fast = onnx_captioner(tiny_models[family], tmp_path)
    with caplog.at_level(logging.INFO):
        captions = fast.caption(frames)
    assert fast.runtime == "pytorch"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not (tmp_path / "converted").exists()
    assert captions == TransformersCaptioner(str(tiny_models[family]), device="cpu").caption(
        frames)


def test_auto_picks_onnx_on_the_cpu_and_precision_is_validated(tmp_path: Path) -> None:
    assert resolve_captioner("auto", "cpu") == "onnx"
    captioner = create_captioner("auto", Options(device="cpu", caption_precision="fp32",
                                                 cache_dir=tmp_path))
    assert isinstance(captioner, OnnxCaptioner) and captioner.precision == "fp32"
    assert captioner.cache_dir == tmp_path
    with pytest.raises(ConfigError, match="caption precision"):
        Options(caption_precision="fp16")


def test_precision_and_backend_shape_the_caption_key(tiny_models: dict[str, Path]) -> None:
    model = str(tiny_models["smolvlm"])
    base = Options(caption_model=model, device="cpu")
    int8 = caption_key(base, create_captioner("onnx", base), "p", "c", None)
    fp32_opts = base.replace(caption_precision="fp32")
    fp32 = caption_key(fp32_opts, create_captioner("onnx", fp32_opts), "p", "c", None)
    torch_key = caption_key(base, create_captioner("transformers", base), "p", "c", None)
    assert len({json.dumps(k, sort_keys=True) for k in (int8, fp32, torch_key)}) == 3
    assert int8["captioner"] == "onnx" and torch_key["captioner"] == "transformers"


def test_cli_captioner_onnx_records_backend_and_precision(
        tmp_path: Path, tiny_models: dict[str, Path], cli_runner: CliRunner) -> None:
    video = make_clip(tmp_path / "c.mp4", seconds=2.0, fps=10)
    out = tmp_path / "out"
    res = cli_runner.invoke(cli, [str(video), *cli_args(tiny_models, out), "--no-llm",
                                  "--format", "json", "--captioner", "onnx",
                                  "--caption-precision", "fp32", "--interval", "1"])
    assert res.exit_code == 0, res.output
    data = json.loads((out / "c.summary.json").read_text(encoding="utf-8"))
    record = data["provenance"]["models"]["captioner"]
    assert record["backend"] == "onnx" and record["class"] == "OnnxCaptioner"
    assert record["compute_type"] == "fp32"
    assert data["captions"] and all(c["text"] for c in data["captions"])
    cache = Path(os.environ["SUMMARIZE_VIDEO_CACHE_DIR"]) / "converted"
    assert [p.name.split("-")[1] for p in cache.iterdir()] == ["fp32"]
    # Again, every caption from the cache (no model loads): the same record.
    again = cli_runner.invoke(cli, [str(video), *cli_args(tiny_models, tmp_path / "again"),
                                    "--no-llm", "--format", "json", "--captioner", "onnx",
                                    "--caption-precision", "fp32", "--interval", "1"])
    assert again.exit_code == 0, again.output
    rerun = json.loads((tmp_path / "again" / "c.summary.json").read_text(encoding="utf-8"))
    assert rerun["cache"]["captions"] == "hit"
    assert rerun["provenance"]["models"]["captioner"] == record


def test_cli_refuses_an_unknown_precision(tmp_path: Path, tiny_models: dict[str, Path],
                                          cli_runner: CliRunner) -> None:
    video = make_clip(tmp_path / "c.mp4", seconds=1.0, fps=10)
    res = cli_runner.invoke(cli, [str(video), *cli_args(tiny_models, tmp_path / "o"),
                                  "--no-llm", "--caption-precision", "fp16"])
    assert res.exit_code == 2
    assert "fp16" in res.output and "Traceback" not in res.output


def test_int8_vision_is_static_int8_on_openvino_and_close_to_fp32(
        tiny_models: dict[str, Path], tmp_path: Path) -> None:
    pytest.importorskip("openvino")
    import numpy as np
    import onnx
    import torch

    from summarize_video.captioning.idefics3_graphs import VisionGraph

    frames = real_frames()
    fast = onnx_captioner(tiny_models["smolvlm"], tmp_path, precision="int8", batch_size=4)
    assert all(fast.caption(frames))
    assert fast._ort is not None and fast._ort.vision_runtime == "openvino"
    folder = fast.conversion_dir
    assert folder is not None
    graph = onnx.load(str(folder / "vision.int8-static.onnx"))
    made_by = {out: node for node in graph.graph.node for out in node.output}
    matmuls = [n for n in graph.graph.node if n.op_type == "MatMul"]
    # Every matrix product reads quantized inputs: the attention's two per layer included.
    layers = len(fast._model.model.vision_model.encoder.layers)
    assert len(matmuls) >= 8 * layers
    assert all(made_by[i].op_type == "DequantizeLinear" for n in matmuls for i in n.input)
    pixels = fast.build_inputs([f.image.convert("RGB") for f in frames])["pixel_values"]
    pixels = pixels.reshape(-1, *pixels.shape[-3:])
    with torch.no_grad():
        expected = VisionGraph(fast._model).eval()(pixels).numpy()
    got = fast._ort.vision.run(None, {"pixel_values": pixels.numpy()})[0]
    cosine = (got * expected).sum() / np.linalg.norm(got) / np.linalg.norm(expected)
    assert cosine > 0.98
