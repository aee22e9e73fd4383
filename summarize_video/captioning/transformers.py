"""Frame captioning with a small local vision model (transformers), one caption per frame.

Three families are told apart by ``AutoConfig.from_pretrained(model).model_type``:

* ``blip`` -> ``BlipForConditionalGeneration``: unconditional captioning (the prompt is unused).
* ``florence2`` -> native ``Florence2ForConditionalGeneration`` (the ``florence-community/``
  checkpoints, not the remote-code ``microsoft/`` ones): a task token, ``<MORE_DETAILED_CAPTION>``
  unless ``prompt`` is itself a Florence-2 task token such as ``<CAPTION>``.
* anything else -> ``AutoModelForImageTextToText``: a chat VLM (e.g. SmolVLM / Idefics3) asked
  ``prompt`` through the processor's chat template, left-padded, image splitting off. A frame
  with speech nearby (``contexts``) is asked the ``caption_context.txt`` prompt instead, with
  the speech filled in as ``$speech``; BLIP and Florence-2 ignore contexts.

torch and transformers are imported inside methods only, so importing this module is cheap.
The model loads lazily on the first ``caption()`` call; ``load()`` loads it eagerly (to fail
fast). Either way it loads once per instance.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..devices import configure_cpu_threads, resolve_device, torch_dtype
from ..errors import CaptionError, ConfigError, ModelLoadError
from ..media.frames import Frame
from ..model_refs import first_line, hub_commit, looks_local, missing_hub_model
from ..options import DEFAULT_CAPTION_MAX_NEW_TOKENS, Options
from ..prompting import CAPTION, CAPTION_CONTEXT, fill, load_prompt
from .guards import NewTokensNoRepeatNGram, cut_repetition
from .sentences import SentenceStop, first_sentence
from .speech_context import check_context_template

DEFAULT_PROMPT = "Describe this image in one sentence."
FLORENCE_DEFAULT_TASK = "<MORE_DETAILED_CAPTION>"
FLORENCE_CAPTION_TASKS = ("<CAPTION>", "<DETAILED_CAPTION>", "<MORE_DETAILED_CAPTION>")
LOAD_HINT = "pass a local directory or check the id; first runs download from the hub"
ARCH_HINT = "use BLIP, native Florence-2 or an image-text-to-text chat VLM such as SmolVLM"
LOCAL_HINT = "the folder must hold a save_pretrained checkpoint: config, weights, processor"
REMOTE_HINT = ("pass trust_remote_code=True only if you trust that repository's code, or use a "
               "checkpoint transformers supports natively")
NO_REPEAT_NGRAM_SIZE = 3

# Florence-2 leftovers that skip_special_tokens may keep: task tags and location bins.
_FLORENCE_TAGS = re.compile(r"<(?:loc_\d+|/?[A-Z][A-Z_]*)>")


def clean_caption(text: str | None) -> str:
    """Collapse whitespace, strip, keep the first sentence when more follows (a caption cut
    mid-sentence by the token cap) and cut repetition loops back to their first occurrence.

    ``None`` or blank becomes ``""``; ``"a man a man a man a man"`` becomes ``"a man"``;
    ``"A man talks. He holds a"`` becomes ``"A man talks."``.
    """
    return cut_repetition(first_sentence(" ".join((text or "").split())))



def _needs_remote_code(exc: BaseException) -> bool:
    text = str(exc)
    return "trust_remote_code" in text or "custom code" in text



class TransformersCaptioner:
    """Caption frames with a Hugging Face vision model (hub id or local directory).

    Loading is lazy: the first ``caption()`` call loads the model, or call ``load()`` to load it
    eagerly. ``family`` is ``"blip"``, ``"florence2"`` or ``"chat"`` once loaded.
    """

    # Its name in captioning.registry (what cache keys and provenance record).
    name = "transformers"
    # What its loading imports (the pipeline imports them first, before its threads start).
    modules: tuple[str, ...] = ("torch", "transformers")

    def __init__(
        self,
        model: str,
        *,
        device: str = "auto",
        batch_size: int = 4,
        max_new_tokens: int = DEFAULT_CAPTION_MAX_NEW_TOKENS,
        prompt: str = DEFAULT_PROMPT,
        revision: str | None = None,
        trust_remote_code: bool = False,
        context_prompt: str | None = None,
    ) -> None:
        if not model or not str(model).strip():
            raise ConfigError("no captioning model given",
                              hint="pass a hub id or a local directory")
        if batch_size < 1:
            raise ConfigError(f"batch size must be at least 1, got {batch_size}")
        if max_new_tokens < 1:
            raise ConfigError(f"max new tokens must be at least 1, got {max_new_tokens}")
        self.model_id = str(model)
        self.device_request = device
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.prompt = prompt
        self.revision = revision
        self.trust_remote_code = trust_remote_code
        # $speech template for frames with speech nearby; None: caption_context.txt, read late.
        self.context_prompt = context_prompt
        if context_prompt is not None:
            check_context_template(context_prompt)
        self.family: str | None = None
        self.model_type: str | None = None
        self.device: str | None = None
        self._model: Any = None
        self._processor: Any = None
        self._dtype: Any = None

    @classmethod
    def from_options(cls, options: Options) -> TransformersCaptioner:
        """The captioner ``options`` describe, with the prompts of ``options.prompts_dir``."""
        return cls(options.caption_model, **cls.option_values(options))

    @staticmethod
    def option_values(o: Options) -> dict[str, Any]:
        """The keywords every transformers-family captioner takes from ``Options``."""
        return dict(device=o.device, batch_size=o.caption_batch_size,
                    max_new_tokens=o.caption_max_new_tokens,
                    prompt=load_prompt(CAPTION, o.prompts_dir).strip(),
                    context_prompt=load_prompt(CAPTION_CONTEXT, o.prompts_dir),
                    trust_remote_code=o.trust_remote_code)

    @classmethod
    def available(cls, device: str) -> bool:
        return importlib.util.find_spec("transformers") is not None

    def missing_model(self) -> str | None:
        """The model, named, when it is not on this machine and cannot be downloaded."""
        return missing_hub_model("captioning model", self.model_id, self.revision)

    def __repr__(self) -> str:
        return f"TransformersCaptioner({self.model_id!r}, family={self.family!r})"

    @property
    def commit(self) -> str | None:
        """The hub commit the loaded weights came from (transformers records it on the
        config); None before loading and for local folders."""
        return hub_commit(self._model)

    @property
    def loaded(self) -> bool:
        return self._model is not None

    # -- loading ---------------------------------------------------------------------------

    def _load_error(
        self, what: str, exc: BaseException | None = None, hint: str = LOAD_HINT
    ) -> ModelLoadError:
        detail = f": {first_line(exc)}" if exc is not None else ""
        return ModelLoadError(f"cannot load captioning model {self.model_id!r}: {what}{detail}",
                              hint=hint)

    def _remote_code_error(self) -> ModelLoadError:
        what = "it needs the repository's own code, which runs only with trust_remote_code=True"
        return self._load_error(what, hint=REMOTE_HINT)

    def load(self) -> None:
        """Load the processor and model once (idempotent). Raises ``ModelLoadError``."""
        if self._model is not None:
            return
        device = resolve_device(self.device_request)
        if device == "cpu":
            configure_cpu_threads()
        dtype = torch_dtype(device)

        source = self.model_id
        if looks_local(source):
            path = Path(source).expanduser()
            if not path.is_dir():
                raise ModelLoadError(
                    f"captioning model directory not found: {path}",
                    hint="pass an existing model folder or a hub id such as org/name",
                )
            source, hint = str(path), LOCAL_HINT
        else:
            hint = LOAD_HINT

        try:
            from transformers import AutoConfig, AutoProcessor
        except Exception as exc:  # broken install (e.g. torchvision next to CPU torch)
            raise self._load_error(
                "transformers failed to import", exc,
                hint="reinstall transformers; never install torchvision",
            ) from exc
        common: dict[str, Any] = {"revision": self.revision,
                                  "trust_remote_code": self.trust_remote_code}
        try:
            config = AutoConfig.from_pretrained(source, **common)
        except Exception as exc:
            if _needs_remote_code(exc) and not self.trust_remote_code:
                raise self._remote_code_error() from exc
            raise self._load_error("no usable config", exc, hint=hint) from exc
        model_type = str(getattr(config, "model_type", "") or "")
        family = {"blip": "blip", "florence2": "florence2"}.get(model_type, "chat")
        # The microsoft/ repos load through remote code (AutoModelForCausalLM), whose weights
        # and processor do not fit the native classes.
        if family == "florence2" and "AutoModelForCausalLM" in (getattr(config, "auto_map", None)
                                                                 or {}):
            raise self._load_error(
                "this is a remote-code Florence-2 repository",
                hint="use the native checkpoints, e.g. florence-community/Florence-2-base",
            )

        if family == "chat" and not self._is_image_text_to_text(config, model_type):
            auto_map = getattr(config, "auto_map", None) or {}
            if not self.trust_remote_code and any(k.startswith("AutoModel") for k in auto_map):
                raise self._remote_code_error()
            raise self._load_error(f"unsupported architecture {model_type!r}", hint=ARCH_HINT)

        try:
            if family == "blip":
                from transformers import BlipForConditionalGeneration as model_cls
            elif family == "florence2":
                from transformers import Florence2ForConditionalGeneration as model_cls
            else:
                from transformers import AutoModelForImageTextToText as model_cls
            processor = AutoProcessor.from_pretrained(source, **common)
            model = model_cls.from_pretrained(source, dtype=dtype, **common)
        except ValueError as exc:
            if _needs_remote_code(exc) and not self.trust_remote_code:
                raise self._remote_code_error() from exc
            if "Unrecognized" in str(exc) or "not supported" in str(exc):
                raise self._load_error(f"unsupported architecture {model_type!r}",
                                       hint=ARCH_HINT) from exc
            raise self._load_error("loading failed", exc, hint=hint) from exc
        except Exception as exc:
            raise self._load_error("loading failed", exc, hint=hint) from exc

        if family == "chat":
            self._prepare_chat_processor(processor)
        model.to(device)
        model.eval()
        self._processor, self._model = processor, model
        self.family, self.model_type, self.device, self._dtype = family, model_type, device, dtype

    def _is_image_text_to_text(self, config: Any, model_type: str) -> bool:
        from transformers.models.auto.modeling_auto import (
            MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES,
        )

        auto_map = getattr(config, "auto_map", None) or {}
        if self.trust_remote_code and "AutoModelForImageTextToText" in auto_map:
            return True
        return model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    def _prepare_chat_processor(self, processor: Any) -> None:
        tokenizer = getattr(processor, "tokenizer", None)
        if tokenizer is None:
            raise self._load_error("its processor has no tokenizer",
                                   hint="use a chat VLM such as SmolVLM")
        # Decoder-only generation appends after the last position: pad on the left.
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None and tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        image_processor = getattr(processor, "image_processor", None)
        # Idefics3/SmolVLM tile big frames into up to 13 sub-images: ~13x the cost per frame.
        if image_processor is not None and hasattr(image_processor, "do_image_splitting"):
            image_processor.do_image_splitting = False
            # Without tiles the frame is resized once, to the encoder's square: the first
            # resize (the longest edge up to 2048 px, LANCZOS) only fed the tiling, and cost
            # 80 ms of a ~0.9 s frame at int8.
            if hasattr(image_processor, "do_resize"):
                image_processor.do_resize = False

    # -- captioning ------------------------------------------------------------------------

    def florence_task(self) -> str:
        """The Florence-2 task token this captioner sends."""
        prompt = self.prompt.strip()
        return prompt if prompt in FLORENCE_CAPTION_TASKS else FLORENCE_DEFAULT_TASK

    def context_template(self) -> str:
        """The $speech template (the shipped ``caption_context.txt`` unless one was given)."""
        if self.context_prompt is None:
            self.context_prompt = check_context_template(load_prompt(CAPTION_CONTEXT))
        return self.context_prompt

    def user_text(self, context: str | None = None) -> str:
        """What the chat VLM is asked: the plain prompt, or the context prompt with speech."""
        speech = " ".join((context or "").split())
        if not speech:
            return self.prompt
        return fill(self.context_template(), {"speech": speech}, name=CAPTION_CONTEXT)

    def chat_text(self, context: str | None = None) -> str:
        """The chat-templated prompt for one frame (chat family), with its speech if any."""
        processor, text = self._processor, self.user_text(context)
        if getattr(processor, "chat_template", None):
            messages = [{"role": "user", "content": [
                {"type": "image"}, {"type": "text", "text": text}]}]
            return processor.apply_chat_template(messages, add_generation_prompt=True)
        return text  # no template: the processor inserts its own image tokens

    def build_inputs(
        self, images: Sequence[Any], contexts: Sequence[str | None] | None = None
    ) -> dict[str, Any]:
        """Processor outputs for RGB images (contexts: chat prompts only), on device, in dtype."""
        import torch

        self.load()
        processor, n = self._processor, len(images)
        if self.family == "blip":
            inputs = processor(images=list(images), return_tensors="pt")
        elif self.family == "florence2":
            inputs = processor(text=[self.florence_task()] * n, images=list(images),
                               return_tensors="pt")
        else:
            texts = [self.chat_text(c) for c in (contexts or [None] * n)]
            inputs = processor(text=texts, images=list(images), return_tensors="pt",
                               padding=True)
        out: dict[str, Any] = {}
        for key, value in inputs.items():
            if isinstance(value, torch.Tensor):
                value = value.to(self.device)
                if torch.is_floating_point(value):
                    value = value.to(self._dtype)
            out[key] = value
        return out

    def _generation_kwargs(self, prompt_length: int = 0) -> dict[str, Any]:
        """Greedy decoding, no trigram twice, a stop at the end of the first sentence;
        ``prompt_length``: the chat prompt's tokens."""
        from transformers import StoppingCriteriaList

        tokenizer = getattr(self._processor, "tokenizer", self._processor)

        def decode(ids: list[int]) -> str:
            return str(tokenizer.decode(ids, skip_special_tokens=True))

        kwargs: dict[str, Any] = {
            "max_new_tokens": self.max_new_tokens,
            "do_sample": False,
            "num_beams": 1,
            # Captions are one sentence: a row stops once it holds one (the cap still holds).
            "stopping_criteria": StoppingCriteriaList([SentenceStop(decode, prompt_length)]),
        }
        if self.family == "chat":
            from transformers import LogitsProcessorList

            # Built-in ban off, whatever the checkpoint says: it also covers the prompt.
            kwargs["no_repeat_ngram_size"] = 0
            kwargs["logits_processor"] = LogitsProcessorList(
                [NewTokensNoRepeatNGram(NO_REPEAT_NGRAM_SIZE, prompt_length)])
            tokenizer = self._processor.tokenizer
            if getattr(self._model.generation_config, "pad_token_id", None) is None:
                kwargs["pad_token_id"] = tokenizer.pad_token_id
        else:  # encoder-decoder: the decoder sees only its own tokens
            kwargs["no_repeat_ngram_size"] = NO_REPEAT_NGRAM_SIZE
        return kwargs

    def _caption_batch(
        self, images: Sequence[Any], contexts: Sequence[str | None] | None = None
    ) -> list[str]:
        import torch

        inputs = self.build_inputs(images, contexts)
        with torch.inference_mode():
            if self.family == "blip":
                generated = self._model.generate(pixel_values=inputs["pixel_values"],
                                                 **self._generation_kwargs())
                new_tokens = generated[:, 1:]  # drop the [DEC] start token
            else:
                # Encoder-decoder: only the decoder's tokens come back. Decoder-only: the
                # prompt comes back first; keep the new tokens only.
                encoder_decoder = getattr(self._model.config, "is_encoder_decoder", False)
                prompt_length = 0 if encoder_decoder else int(inputs["input_ids"].shape[1])
                generated = self._model.generate(**inputs,
                                                 **self._generation_kwargs(prompt_length))
                new_tokens = generated[:, prompt_length:]
        texts = self._processor.batch_decode(new_tokens, skip_special_tokens=True)
        if self.family == "florence2":
            texts = [_FLORENCE_TAGS.sub(" ", t) for t in texts]
        return [clean_caption(t) for t in texts]

    def caption(
        self, frames: Sequence[Frame], contexts: Sequence[str | None] | None = None
    ) -> list[str]:
        """One cleaned caption per frame, in order (``""`` where the model said nothing).

        ``contexts``: per frame, the speech heard around it (``None`` or ``""``: none), as
        ``captioning.speech_context.speech_context`` gives it; only chat VLMs read it.
        """
        if contexts is not None and len(contexts) != len(frames):
            raise ValueError(f"{len(contexts)} contexts for {len(frames)} frames")
        if not frames:
            return []
        self.load()
        captions: list[str] = []
        for start in range(0, len(frames), self.batch_size):
            chunk = frames[start:start + self.batch_size]
            speech = None if contexts is None else contexts[start:start + self.batch_size]
            images = [f.image if f.image.mode == "RGB" else f.image.convert("RGB") for f in chunk]
            try:
                texts = self._caption_batch(images, speech)
            except (ModelLoadError, ConfigError):
                raise
            except Exception as exc:
                raise CaptionError(
                    f"captioning frames at {chunk[0].t:.2f}-{chunk[-1].t:.2f}s with "
                    f"{self.model_id!r} failed: {first_line(exc)}",
                    hint="try a smaller batch size or --device cpu",
                ) from exc
            if len(texts) != len(chunk):
                raise CaptionError(f"{self.model_id!r} returned {len(texts)} captions "
                                   f"for {len(chunk)} frames")
            captions.extend(texts)
        return captions
