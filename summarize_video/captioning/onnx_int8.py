"""The int8 vision encoder of the onnx captioner: static int8 (QDQ) run by OpenVINO.

Dynamic int8 (onnxruntime's ``quantize_dynamic``) quantizes the activations on every call and
leaves the attention's matrix products in fp32; static int8 calibrates the activations' ranges
once (on a few generated pictures, passed through the model's own processor), quantizes every
matrix product of the encoder, the attention's included (signed 8-bit, symmetric, weights per
channel), and OpenVINO runs the result on its int8 kernels. On one core of an AVX-512 CPU the
real-size SmolVLM-256M encoder takes 0.70 s per frame this way against 1.23 s with dynamic int8
in onnxruntime (which runs the static graph slower than the dynamic one). Without OpenVINO the
dynamic graph runs on onnxruntime. onnxruntime, onnx and openvino are imported inside functions.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

STATIC_VISION = "vision.int8-static.onnx"


def calibration_pictures(count: int = 4, size: int = 512) -> list[Any]:
    """Deterministic RGB pictures (``size`` >= 128 square; the processor resizes them) with
    what frames hold: smooth light, flat shapes, fine texture, edges and text."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(17)
    y, x = np.mgrid[0:size, 0:size] / size
    pictures = []
    for i in range(count):
        base = np.stack([x * (1 - i / count), y, (x + y) / 2 * (i + 1) / count], axis=-1)
        noise = rng.normal(0, 0.04 * (i + 1), base.shape)
        array = np.clip((base + noise) * 255, 0, 255).astype(np.uint8)
        picture = Image.fromarray(array)
        draw = ImageDraw.Draw(picture)
        for _ in range(6 + 3 * i):
            x0, y0 = (int(v) for v in rng.integers(0, size - 40, 2))
            w, h = (int(v) for v in rng.integers(20, size // 2, 2))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
            shape([x0, y0, x0 + w, y0 + h], fill=colour)
        for row in range(3):
            draw.text((20, 40 + 60 * row + 25 * i), "the quick brown fox 2024", fill="white")
        pictures.append(picture)
    return pictures


def quantize_vision_static(src: Path, dest: Path, pixels: Any) -> None:
    """Static int8 (QDQ) of the fp32 vision graph ``src`` into ``dest``, its activation
    ranges calibrated on ``pixels`` (frames of the model's input, N x 3 x H x W)."""
    import numpy as np
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    frames = [{"pixel_values": np.ascontiguousarray(p[None], np.float32)} for p in pixels]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.feeds = iter(frames)

        def get_next(self) -> dict[str, Any] | None:
            return next(self.feeds, None)

    logging.disable(logging.WARNING)  # the quantizer logs every tensor on the root logger
    try:
        quantize_static(str(src), str(dest), Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QInt8,
                        weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                        calibrate_method=CalibrationMethod.MinMax,
                        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True,
                                       "DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        logging.disable(logging.NOTSET)


def openvino_installed() -> bool:
    return importlib.util.find_spec("openvino") is not None


class OpenVinoSession:
    """An OpenVINO compiled model with onnxruntime's ``run(None, feeds)`` call."""

    def __init__(self, path: Path, threads: int) -> None:
        import openvino as ov

        core = ov.Core()
        # Threads not pinned to cores: transcription and screen reading share them, and
        # two pinned models would share one core (measured: no gain from a second one).
        self.model = core.compile_model(str(path), "CPU", {
            "INFERENCE_NUM_THREADS": max(1, threads), "INFERENCE_PRECISION_HINT": "f32",
            "ENABLE_CPU_PINNING": False})

    def run(self, _names: Any, feeds: dict[str, Any]) -> list[Any]:
        result = self.model(feeds)
        return [result[out] for out in self.model.outputs]
