"""The fast CPU captioner: the model loads as for ``transformers`` (same ``from_pretrained``
code, prompts and clean-up), is converted once to ONNX (cached on disk, see
``onnx_convert``) and decoded greedily with onnxruntime.

Idefics3 / SmolVLM v1 models take this route. BLIP, Florence-2 and other chat VLMs stay on
PyTorch (an info line says so), and so does every model on CUDA or MPS. A conversion that
fails falls back to PyTorch with one warning line. ``precision``: ``int8`` (the default: the
vision encoder in static int8 on OpenVINO, see ``onnx_int8``, or dynamic int8 on onnxruntime
without OpenVINO; the decoder's linear layers in dynamic int8) or ``fp32`` (the same greedy
captions as the PyTorch backend).
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..devices import available_cpus, resolve_device
from ..model_refs import first_line
from ..options import CAPTION_PRECISIONS, DEFAULT_CAPTION_PRECISION, Options, check_choice
from .guards import NewTokensNoRepeatNGram
from .onnx_convert import Idefics3Runtime, conversion_key, convert_cached, default_root
from .transformers import NO_REPEAT_NGRAM_SIZE, TransformersCaptioner, clean_caption

log = logging.getLogger(__name__)


class OnnxCaptioner(TransformersCaptioner):
    """``TransformersCaptioner`` whose Idefics3 models run on onnxruntime on the CPU.

    After ``load()``, ``runtime`` is ``"onnxruntime"`` or ``"pytorch"`` (the route taken) and
    ``converted`` tells whether this load made the conversion (False: reused from the cache).
    On onnxruntime, batches may be captioned from several threads at once
    (``concurrent_batches``): each call takes a runtime of its own (opened on demand, kept).
    """

    modules = ("torch", "transformers", "onnx", "onnxruntime", "openvino")

    name = "onnx"

    def __init__(self, model: str, *, precision: str = DEFAULT_CAPTION_PRECISION,
                 cache_dir: Path | None = None, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        check_choice(precision, CAPTION_PRECISIONS, "caption precision")
        self.precision = precision
        self.cache_dir = cache_dir
        self.runtime: str | None = None
        self.converted = False
        self.conversion_dir: Path | None = None
        self._ort: Idefics3Runtime | None = None
        # The runtimes opened so far, by thread count (their threads are fixed when they
        # open), and those not in use now; the lock guards both, and the tokenizer, whose
        # padding settings are changed on each call.
        self._runtimes: dict[int, list[Idefics3Runtime]] = {}
        self._idle: dict[int, list[Idefics3Runtime]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_options(cls, options: Options) -> OnnxCaptioner:
        return cls(options.caption_model, **cls.option_values(options),
                   precision=options.caption_precision, cache_dir=options.cache_dir)

    @classmethod
    def available(cls, device: str) -> bool:
        """Installed, and the device is the CPU (PyTorch stays the path on CUDA and MPS)."""
        if importlib.util.find_spec("onnxruntime") is None:
            return False
        if not TransformersCaptioner.available(device):
            return False
        return resolve_device(device) == "cpu"

    @property
    def concurrent_batches(self) -> bool:
        """True once loaded on onnxruntime: ``caption`` may then run in several threads at
        once (the pipeline's caption lanes), each on its own runtime."""
        return self.runtime == "onnxruntime"

    @property
    def compute_type(self) -> str | None:
        """The precision that captions (provenance records it): the one asked for, as the
        caption key has it, unless loading left the PyTorch model in charge. A run whose
        captions all come from the cache never loads the model and records the same."""
        return None if self.runtime == "pytorch" else self.precision

    def __repr__(self) -> str:
        return (f"OnnxCaptioner({self.model_id!r}, family={self.family!r}, "
                f"runtime={self.runtime!r}, precision={self.precision!r})")

    def load(self) -> None:
        """Load as ``transformers`` does, then convert (or reuse the conversion) and open the
        onnxruntime sessions; any failure there leaves the PyTorch model in charge."""
        if self.loaded:
            return
        super().load()
        self.runtime = "pytorch"
        if self.device != "cpu":
            log.info("captioner onnx: %s runs on %s with PyTorch", self.model_id, self.device)
            return
        from .idefics3_graphs import supports

        why_not = supports(self._model)
        if why_not is not None:
            log.info("captioner onnx: %s stays on PyTorch (%s)", self.model_id, why_not)
            return
        try:
            key = conversion_key(self.model_id, self.commit, self.revision, self.precision)
            calibration = self._calibration() if self.precision == "int8" else None
            folder, self.converted = convert_cached(self._model, key,
                                                    default_root(self.cache_dir), calibration)
            import torch

            threads = min(torch.get_num_threads(), available_cpus())
            self._ort = Idefics3Runtime(folder, self._model, threads)
            self._runtimes[threads] = [self._ort]
            self._idle[threads] = [self._ort]
        except Exception as exc:
            log.warning("captioner onnx: converting %s failed, captioning with PyTorch "
                        "instead: %s", self.model_id, first_line(exc))
            return
        self.conversion_dir, self.runtime = folder, "onnxruntime"

    @contextmanager
    def _runtime_now(self) -> Iterator[Idefics3Runtime]:
        """A runtime for the threads captioning may use now in this thread (torch's count,
        which the pipeline sets per batch and lane), not used by another thread meanwhile:
        onnxruntime and OpenVINO fix their threads when a session opens, and an OpenVINO
        model runs one request at a time, so a new count or a second lane opens its own."""
        import torch

        assert self._ort is not None and self.conversion_dir is not None
        threads = max(1, min(torch.get_num_threads(), available_cpus()))
        with self._lock:
            idle = self._idle.setdefault(threads, [])
            runtime = idle.pop() if idle else None
        if runtime is None:
            log.debug("captioner onnx: opening sessions for %d threads", threads)
            runtime = Idefics3Runtime(self.conversion_dir, self._model, threads,
                                      embed=self._ort.embed)
            with self._lock:
                self._runtimes.setdefault(threads, []).append(runtime)
        try:
            yield runtime
        finally:
            with self._lock:
                self._idle[threads].append(runtime)

    def _calibration(self) -> Any:
        """Pixel values of generated pictures, through the model's processor, to calibrate
        the static int8 vision graph on."""
        from .onnx_int8 import calibration_pictures

        pixels = self.build_inputs(calibration_pictures())["pixel_values"].numpy()
        return pixels.reshape(-1, *pixels.shape[-3:])

    def _caption_batch(self, images: Any, contexts: Any = None) -> list[str]:
        if self._ort is None:
            return super()._caption_batch(images, contexts)
        with self._lock:
            inputs = self.build_inputs(images, contexts)
        pixel_mask = inputs.get("pixel_attention_mask")
        if pixel_mask is not None and not bool(pixel_mask.all()):  # padded tiles: not exported
            with self._lock:  # one PyTorch batch at a time
                return super()._caption_batch(images, contexts)
        input_ids = inputs["input_ids"].numpy()
        tokenizer = self._processor.tokenizer
        gen = self._model.generation_config
        eos = gen.eos_token_id if gen.eos_token_id is not None else tokenizer.eos_token_id
        eos_ids = [int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos])
                   if e is not None]
        pad = gen.pad_token_id if gen.pad_token_id is not None else tokenizer.pad_token_id
        with self._runtime_now() as runtime:
            new_tokens = runtime.generate(
                input_ids, inputs["attention_mask"].numpy(), inputs["pixel_values"].numpy(),
                max_new_tokens=self.max_new_tokens, eos_ids=eos_ids,
                pad_id=int(pad if pad is not None else eos_ids[0]),
                logits_processor=NewTokensNoRepeatNGram(NO_REPEAT_NGRAM_SIZE,
                                                        input_ids.shape[1]))
        with self._lock:
            texts = self._processor.batch_decode(new_tokens, skip_special_tokens=True)
        return [clean_caption(t) for t in texts]
