"""PP-OCR through onnxruntime: the detection and recognition models the ``rapidocr`` package
ships in its wheel (PP-OCRv6 small, Chinese, English and ~40 Latin-script languages).

Detection runs first on the whole frame; recognition only on the boxes it found, so a frame
without text costs one detection pass. The models load from the installed package's folder and
never from the network: a missing file is a ModelLoadError.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ModelLoadError
from ..model_refs import first_line
from .base import MIN_SCORE, TextBlock, keep
from .words import split_words

if TYPE_CHECKING:
    from ..media.frames import Frame
    from ..options import Options

# The model files inside the rapidocr package, by stage.
MODEL_FILES = {"Det": "PP-OCRv6_det_small.onnx", "Rec": "PP-OCRv6_rec_small.onnx",
               "Cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx"}
# What the result's provenance and the screen-text cache key name.
MODEL_ID = "rapidocr/PP-OCRv6-small"
# Detection input: the longer side is brought down to this many pixels (never up): video
# frames are already small, and detection time grows with the area.
DETECT_SIDE = 960
# A frame whose pixels vary less than this (standard deviation, 0-255) is skipped.
FLAT = 3.0
INSTALL_HINT = "pip install rapidocr onnxruntime (or --ocr off)"


class RapidOcrReader:
    """Reads frames with the PP-OCR models shipped by ``rapidocr``."""

    name = "rapidocr"
    # What its loading imports (the pipeline imports them first, before its threads start).
    modules = ("onnxruntime", "rapidocr")

    def __init__(self, min_score: float = MIN_SCORE, threads: int = 0) -> None:
        # Blocks read with less confidence are dropped; onnxruntime threads, fixed when the
        # models load (0: onnxruntime's own count; the pipeline gives its share).
        self.min_score = min_score
        self.threads = threads
        self.model_id = MODEL_ID
        self._engine: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_options(cls, options: Options) -> RapidOcrReader:
        return cls()

    @classmethod
    def available(cls, device: str) -> bool:
        return (importlib.util.find_spec("rapidocr") is not None
                and importlib.util.find_spec("onnxruntime") is not None)

    def __repr__(self) -> str:
        return f"RapidOcrReader({self.model_id!r})"

    def load(self) -> Any:
        """The engine, built on first use from the package's own model files."""
        with self._lock:
            if self._engine is None:
                self._engine = _build_engine(self.threads)
            return self._engine

    def read(self, frames: Sequence[Frame]) -> list[list[TextBlock]]:
        """The blocks kept on each frame (see ``base.keep``), top to bottom. The models load
        on the first frame that is not one flat colour."""
        return [self._read_one(frame.image) for frame in frames]

    def _read_one(self, image: Any) -> list[TextBlock]:
        import numpy as np

        rgb = np.asarray(image.convert("RGB"))
        height, width = rgb.shape[:2]
        if float(rgb[::4, ::4].std()) < FLAT:
            return []  # one flat colour (black screen, fade): nothing to detect
        out = self.load()(np.ascontiguousarray(rgb[:, :, ::-1]), use_cls=False)
        boxes, texts, scores = out.boxes, out.txts, out.scores
        if boxes is None or not texts:
            return []
        blocks = []
        for box, text, score in zip(boxes, texts, scores, strict=False):
            xs, ys = box[:, 0], box[:, 1]
            frac = (float(xs.min()) / width, float(ys.min()) / height,
                    float(xs.max()) / width, float(ys.max()) / height)
            block = TextBlock(split_words(" ".join(str(text).split())), float(score), frac)
            if keep(block, self.min_score):
                blocks.append(block)
        return sorted(blocks, key=lambda b: (round(b.box[1], 2), b.box[0]))


def model_folder() -> Path:
    """Where the installed ``rapidocr`` keeps its models (the package is not imported)."""
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError("the OCR backend is not installed", stage="ocr",
                             hint=INSTALL_HINT)
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def _build_engine(threads: int) -> Any:
    folder = model_folder()
    params: dict[str, Any] = {"Global.log_level": "error", "Global.use_cls": False,
                              "Det.limit_type": "max", "Det.limit_side_len": DETECT_SIDE}
    for stage, name in MODEL_FILES.items():
        path = folder / name
        if not path.is_file():
            raise ModelLoadError(f"OCR model file missing: {path}", stage="ocr",
                                 hint="reinstall rapidocr, or --ocr off")
        params[f"{stage}.model_path"] = str(path)
    if threads:
        params["EngineConfig.onnxruntime.intra_op_num_threads"] = threads
    try:
        from rapidocr import RapidOCR

        engine = RapidOCR(params=params)
    except Exception as exc:  # the library's own errors: one line, no traceback
        raise ModelLoadError(f"the OCR models could not be loaded: {first_line(exc)}",
                             stage="ocr", hint="reinstall rapidocr, or --ocr off") from exc
    logging.getLogger("RapidOCR").setLevel(logging.ERROR)
    return engine
