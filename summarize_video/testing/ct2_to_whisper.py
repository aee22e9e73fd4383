"""CTranslate2 Whisper weights as an openai-whisper checkpoint, so the same real weights run
through both transcription backends in the tests.

``model.bin`` (binary version 6, little-endian) is: the version (uint32), the spec name and
its revision, the variables (each a name, a shape, a dtype id, a byte count and the raw bytes)
and the aliases (a name standing for another variable's value). Strings are a uint16 length
(the terminating NUL included) and the bytes. The names follow CTranslate2's Whisper spec:
self-attention q/k/v fused in one linear (a zero key bias), cross-attention k/v fused, the
output projection an alias of the token embedding.
"""

from __future__ import annotations

import struct
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

# CTranslate2's DataType ids, in order (bfloat16 is read as its upper 16 bits of a float32).
_DTYPES: tuple[str, ...] = ("float32", "int8", "int16", "int32", "float16", "bfloat16")
SUPPORTED_VERSION = 6


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def number(self, fmt: str) -> int:
        (value,) = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return int(value)

    def string(self) -> str:
        size = self.number("H")
        text = self.data[self.pos:self.pos + size - 1].decode("utf-8")
        self.pos += size
        return text

    def raw(self, size: int) -> bytes:
        chunk = self.data[self.pos:self.pos + size]
        self.pos += size
        return chunk


def _array(raw: bytes, dtype_id: int, shape: list[int]) -> np.ndarray:
    name = _DTYPES[dtype_id]
    if name == "bfloat16":
        halves = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        return halves.view(np.float32).reshape(shape)
    return np.frombuffer(raw, dtype=np.dtype(name).newbyteorder("<")).reshape(shape).copy()


def read_model_bin(path: str | Path) -> dict[str, np.ndarray]:
    """Every variable of a CTranslate2 ``model.bin`` by name, aliases resolved."""
    reader = _Reader(Path(path).read_bytes())
    version = reader.number("I")
    if version != SUPPORTED_VERSION:
        raise ValueError(f"{path}: CTranslate2 binary version {version}, "
                         f"expected {SUPPORTED_VERSION}")
    reader.string()  # the spec's name, e.g. WhisperSpec
    reader.number("I")  # the spec's revision
    variables: dict[str, np.ndarray] = {}
    for _ in range(reader.number("I")):
        name = reader.string()
        shape = [reader.number("I") for _ in range(reader.number("B"))]
        dtype_id = reader.number("B")
        variables[name] = _array(reader.raw(reader.number("I")), dtype_id, shape)
    for _ in range(reader.number("I")):
        alias, target = reader.string(), reader.string()
        variables[alias] = variables[target]
    return variables


def _layers(variables: dict[str, np.ndarray], prefix: str) -> int:
    """How many numbered ``layer_N`` blocks ``prefix`` holds (``layer_norm`` is no block)."""
    blocks = {name.split("/")[1] for name in variables if name.startswith(prefix + "/layer_")}
    return sum(1 for block in blocks if block.removeprefix("layer_").isdigit())


def _fused(weight: np.ndarray, bias: np.ndarray | None, names: tuple[str, ...], prefix: str
           ) -> dict[str, np.ndarray]:
    """A fused linear split back into whisper's ``query``/``key``/``value`` (key: no bias)."""
    out: dict[str, np.ndarray] = {}
    parts = np.split(weight, len(names))
    biases = np.split(bias, len(names)) if bias is not None else [None] * len(names)
    for name, w, b in zip(names, parts, biases, strict=True):
        out[f"{prefix}.{name}.weight"] = w
        if b is not None and name != "key":
            out[f"{prefix}.{name}.bias"] = b
    return out


def _norm(v: dict[str, np.ndarray], src: str, dst: str) -> dict[str, np.ndarray]:
    return {f"{dst}.weight": v[f"{src}/gamma"], f"{dst}.bias": v[f"{src}/beta"]}


def _linear(v: dict[str, np.ndarray], src: str, dst: str) -> dict[str, np.ndarray]:
    return {f"{dst}.weight": v[f"{src}/weight"], f"{dst}.bias": v[f"{src}/bias"]}


def _block(v: dict[str, np.ndarray], src: str, dst: str, cross: bool) -> dict[str, np.ndarray]:
    """One transformer block's tensors under whisper's names."""
    sa = f"{src}/self_attention"
    out = _fused(v[f"{sa}/linear_0/weight"], v[f"{sa}/linear_0/bias"],
                 ("query", "key", "value"), f"{dst}.attn")
    out.update(_linear(v, f"{sa}/linear_1", f"{dst}.attn.out"))
    out.update(_norm(v, f"{sa}/layer_norm", f"{dst}.attn_ln"))
    if cross:
        ca = f"{src}/attention"
        out.update(_linear(v, f"{ca}/linear_0", f"{dst}.cross_attn.query"))
        out.update(_fused(v[f"{ca}/linear_1/weight"], v[f"{ca}/linear_1/bias"],
                          ("key", "value"), f"{dst}.cross_attn"))
        out.update(_linear(v, f"{ca}/linear_2", f"{dst}.cross_attn.out"))
        out.update(_norm(v, f"{ca}/layer_norm", f"{dst}.cross_attn_ln"))
    out.update(_linear(v, f"{src}/ffn/linear_0", f"{dst}.mlp.0"))
    out.update(_linear(v, f"{src}/ffn/linear_1", f"{dst}.mlp.2"))
    out.update(_norm(v, f"{src}/ffn/layer_norm", f"{dst}.mlp_ln"))
    return out


def whisper_checkpoint(variables: dict[str, np.ndarray]) -> dict[str, Any]:
    """``{"dims": ..., "model_state_dict": ...}`` as ``whisper.load_model`` reads it."""
    import torch
    from whisper.model import ModelDimensions

    v = variables
    enc_layers, dec_layers = _layers(v, "encoder"), _layers(v, "decoder")
    state: dict[str, np.ndarray] = {
        "encoder.conv1.weight": v["encoder/conv1/weight"],
        "encoder.conv1.bias": v["encoder/conv1/bias"],
        "encoder.conv2.weight": v["encoder/conv2/weight"],
        "encoder.conv2.bias": v["encoder/conv2/bias"],
        "encoder.positional_embedding": v["encoder/position_encodings/encodings"],
        "decoder.token_embedding.weight": v["decoder/embeddings/weight"],
        "decoder.positional_embedding": v["decoder/position_encodings/encodings"],
    }
    state.update(_norm(v, "encoder/layer_norm", "encoder.ln_post"))
    state.update(_norm(v, "decoder/layer_norm", "decoder.ln"))
    for i in range(enc_layers):
        state.update(_block(v, f"encoder/layer_{i}", f"encoder.blocks.{i}", cross=False))
    for i in range(dec_layers):
        state.update(_block(v, f"decoder/layer_{i}", f"decoder.blocks.{i}", cross=True))
    width = int(v["encoder/conv1/weight"].shape[0])
    dims = ModelDimensions(
        n_mels=int(v["encoder/conv1/weight"].shape[1]),
        n_audio_ctx=int(v["encoder/position_encodings/encodings"].shape[0]),
        n_audio_state=width, n_audio_head=int(v["encoder/num_heads"]),
        n_audio_layer=enc_layers,
        n_vocab=int(v["decoder/embeddings/weight"].shape[0]),
        n_text_ctx=int(v["decoder/position_encodings/encodings"].shape[0]),
        n_text_state=int(v["decoder/embeddings/weight"].shape[1]),
        n_text_head=int(v["decoder/num_heads"]), n_text_layer=dec_layers,
    )
    tensors = {name: torch.from_numpy(np.ascontiguousarray(value))
               for name, value in state.items()}
    return {"dims": asdict(dims), "model_state_dict": tensors}


def convert(folder: str | Path, out: str | Path) -> Path:
    """The CTranslate2 Whisper model in ``folder`` written to ``out`` as an openai-whisper
    checkpoint (loadable by ``whisper.load_model(out)``); an existing ``out`` is kept."""
    import torch

    target = Path(out)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = whisper_checkpoint(read_model_bin(Path(folder) / "model.bin"))
    partial = target.with_suffix(target.suffix + ".partial")
    torch.save(checkpoint, partial)
    partial.replace(target)
    return target
