"""Convert a loaded Idefics3 (SmolVLM v1) model to ONNX once, cache it, and run it greedily.

The cache folder's name is a hash of what the conversion depends on: the model id, its hub
commit or (local folders) the names, sizes and times of its files, the precision, and the
versions of torch, onnxruntime and this converter. A conversion is written into a temporary
folder beside it and renamed into place when complete, so an interrupted one leaves nothing
that is ever read. ``meta.json`` in each folder counts the loads that reused it.

torch, onnxruntime and onnx are imported inside functions only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..options import default_cache_dir
from .onnx_int8 import STATIC_VISION, OpenVinoSession, openvino_installed, quantize_vision_static

# Bump when the exported graphs change: older conversions are then never read.
# 2: int8 adds a static int8 (QDQ) vision graph, calibrated, for OpenVINO.
CONVERTER_VERSION = 2
VISION, DECODER, META = "vision.onnx", "decoder.onnx", "meta.json"
OPSET = 17


def default_root(cache_dir: Path | None) -> Path:
    """Where converted models live: ``converted/`` in the cache folder (``cache_dir``, else
    ``$SUMMARIZE_VIDEO_CACHE_DIR``, else the user cache folder)."""
    return Path(cache_dir if cache_dir is not None else default_cache_dir()) / "converted"


def _local_files(folder: Path) -> list[list[Any]]:
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            stat = path.stat()
            found.append([str(path.relative_to(folder)), stat.st_size, stat.st_mtime_ns])
    return found


def conversion_key(model_id: str, commit: str | None, revision: str | None,
                   precision: str) -> dict[str, Any]:
    """Everything a conversion depends on (the cache folder is named by its hash)."""
    import onnxruntime
    import torch

    key: dict[str, Any] = {"converter": CONVERTER_VERSION, "model": model_id,
                           "revision": revision, "commit": commit, "precision": precision,
                           "torch": torch.__version__, "onnxruntime": onnxruntime.__version__}
    folder = Path(model_id).expanduser()
    if folder.is_dir():
        key["model"] = str(folder.resolve())
        key["files"] = _local_files(folder)
    return key


def _export(model: Any, dest: Path, precision: str, calibration: Any = None) -> None:
    """Write vision.onnx and decoder.onnx for ``model`` into ``dest`` (int8: dynamic int8,
    and with ``calibration`` pixels also the static int8 vision graph)."""
    import torch

    from .idefics3_graphs import DecoderStep, VisionGraph

    vision, step = VisionGraph(model).eval(), DecoderStep(model).eval()
    vcfg, tcfg = model.config.vision_config, model.config.text_config
    pixels = torch.zeros(1, 3, vcfg.image_size, vcfg.image_size)
    heads, head_dim = step.kv_heads, step.head_dim
    layers = len(step.layers)
    embeds = torch.zeros(2, 3, int(tcfg.hidden_size))
    mask = torch.ones(2, 5, dtype=torch.int64)
    positions = torch.arange(2, 5).repeat(2, 1)
    past = [torch.zeros(2, heads, 2, head_dim) for _ in range(2 * layers)]
    past_names = [f"past{i}" for i in range(2 * layers)]
    present_names = [f"present{i}" for i in range(2 * layers)]
    axes: dict[str, dict[int, str]] = {
        "embeds": {0: "batch", 1: "new"}, "attention_mask": {0: "batch", 1: "total"},
        "position_ids": {0: "batch", 1: "new"}, "logits": {0: "batch"},
        **{n: {0: "batch", 2: "past"} for n in past_names},
        **{n: {0: "batch", 2: "total"} for n in present_names}}
    raw = dest / ("decoder.fp32.onnx" if precision != "fp32" else DECODER)
    raw_vision = dest / ("vision.fp32.onnx" if precision != "fp32" else VISION)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(step, (embeds, mask, positions, *past), str(raw), dynamo=False,
                          opset_version=OPSET, dynamic_axes=axes,
                          input_names=["embeds", "attention_mask", "position_ids", *past_names],
                          output_names=["logits", *present_names])
        torch.onnx.export(vision, (pixels,), str(raw_vision), dynamo=False, opset_version=OPSET,
                          input_names=["pixel_values"], output_names=["features"],
                          dynamic_axes={"pixel_values": {0: "frames"},
                                        "features": {0: "frames"}})
    if precision == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        logging.disable(logging.WARNING)  # the quantizer logs every tensor on the root logger
        try:
            for src, out in ((raw, DECODER), (raw_vision, VISION)):
                quantize_dynamic(str(src), str(dest / out), weight_type=QuantType.QInt8)
        finally:
            logging.disable(logging.NOTSET)
        if calibration is not None:
            quantize_vision_static(raw_vision, dest / STATIC_VISION, calibration)
        raw.unlink()
        raw_vision.unlink()


def convert_cached(model: Any, key: dict[str, Any], root: Path,
                   calibration: Any = None) -> tuple[Path, bool]:
    """The folder holding ``model``'s conversion for ``key`` (made now if missing), and
    whether it was made now (``calibration``: pixel values for static int8). Raises whatever
    the export raises; nothing partial is kept."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    final = root / f"idefics3-{key['precision']}-{digest}"
    meta_path = final / META
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        meta["reused"] = int(meta.get("reused", 0)) + 1
        _write_atomic(meta_path, json.dumps(meta, indent=1))
        return final, False
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".converting-", dir=root))
    try:
        _export(model, work, key["precision"], calibration)
        (work / META).write_text(json.dumps({"key": key, "reused": 0}, indent=1))
        if final.exists():  # a broken leftover (no meta) or a race lost: replace it
            shutil.rmtree(final, ignore_errors=True)
        try:
            os.replace(work, final)
        except OSError:
            if not meta_path.is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final, True


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".meta-", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


class Idefics3Runtime:
    """Greedy decoding of a converted Idefics3 with onnxruntime on the CPU."""

    def __init__(self, folder: Path, model: Any, threads: int, embed: Any = None) -> None:
        """Sessions on ``threads`` threads; ``embed``: the token embeddings of another
        runtime of the same model, shared (read-only) instead of copied."""
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, threads)
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        # Idle threads sleep instead of spinning: transcription shares these cores.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = ["CPUExecutionProvider"]
        self.vision_runtime = "onnxruntime"
        if (folder / STATIC_VISION).is_file() and openvino_installed():
            self.vision = OpenVinoSession(folder / STATIC_VISION, threads)
            self.vision_runtime = "openvino"
        else:
            self.vision = ort.InferenceSession(str(folder / VISION), opts, providers=providers)
        self.decoder = ort.InferenceSession(str(folder / DECODER), opts, providers=providers)
        text = model.model.text_model
        self.embed = (embed if embed is not None
                      else text.embed_tokens.weight.detach().float().numpy())
        cfg = model.config.text_config
        self.layers = int(cfg.num_hidden_layers)
        self.kv_heads = int(cfg.num_key_value_heads)
        self.head_dim = int(getattr(cfg, "head_dim", None)
                            or cfg.hidden_size // cfg.num_attention_heads)
        self.image_token_id = int(model.config.image_token_id)

    def prefill_embeds(self, input_ids: Any, pixel_values: Any) -> Any:
        """Token embeddings with each image's features in place of its image tokens."""
        import numpy as np

        pixels = pixel_values.reshape(-1, *pixel_values.shape[-3:]).astype(np.float32)
        features = self.vision.run(None, {"pixel_values": pixels})[0]
        embeds = self.embed[input_ids]
        where = input_ids == self.image_token_id
        if int(where.sum()) != features.shape[0] * features.shape[1]:
            raise ValueError(f"{int(where.sum())} image tokens for "
                             f"{features.shape[0]}x{features.shape[1]} image features")
        embeds[where] = features.reshape(-1, features.shape[-1])
        return embeds

    def generate(self, input_ids: Any, attention_mask: Any, pixel_values: Any, *,
                 max_new_tokens: int, eos_ids: Sequence[int], pad_id: int,
                 logits_processor: Any) -> Any:
        """New token ids per row (``pad_id`` after a row's end), greedy, like ``generate``."""
        import numpy as np
        import torch

        batch = input_ids.shape[0]
        embeds = self.prefill_embeds(input_ids, pixel_values)
        mask = attention_mask.astype(np.int64)
        positions = np.where(mask == 0, 1, np.cumsum(mask, axis=1) - 1)
        past = [np.zeros((batch, self.kv_heads, 0, self.head_dim), np.float32)
                for _ in range(2 * self.layers)]
        ids, done, new = input_ids.astype(np.int64), np.zeros(batch, bool), []
        for _ in range(max_new_tokens):
            feeds = {"embeds": embeds, "attention_mask": mask, "position_ids": positions}
            feeds.update({f"past{i}": p for i, p in enumerate(past)})
            logits, *past = self.decoder.run(None, feeds)
            scores = logits_processor(torch.from_numpy(ids), torch.from_numpy(logits))
            token = scores.argmax(dim=-1).numpy().astype(np.int64)
            token = np.where(done, pad_id, token)
            new.append(token)
            done |= np.isin(token, list(eos_ids))
            if done.all():
                break
            ids = np.concatenate([ids, token[:, None]], axis=1)
            mask = np.concatenate([mask, np.ones((batch, 1), np.int64)], axis=1)
            positions = positions[:, -1:] + 1
            embeds = self.embed[token][:, None, :]
        return np.stack(new, axis=1) if new else np.zeros((batch, 0), np.int64)
