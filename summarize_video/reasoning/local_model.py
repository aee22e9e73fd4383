"""A fully local reasoner: a small instruct model run in-process with transformers.

``TransformersReasoner("Qwen/Qwen2.5-0.5B-Instruct")`` answers like ``OpenAIReasoner`` with no
server and no key. The tokenizer and model load on the first ``complete`` (or ``load()``), once;
the prompt goes through the model's own chat template, generation is greedy, and the usage is
counted exactly from token ids. torch and transformers are imported only then.

``json_mode`` is accepted but not enforced (no constrained decoding): ``json_mode_used`` is
False, and the prompt itself must ask for JSON.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ModelLoadError, ReasonerError
from ..model_refs import first_line, hub_commit, looks_local, missing_hub_model
from .base import (
    LENGTH_RETRY_FACTOR,
    Completion,
    Message,
    Usage,
    check_output_budget,
    developer_as_system,
    fold_system_messages,
    strip_thinking,
)
from .untrusted import neutralise_markers

log = logging.getLogger(__name__)

LOAD_HINT = "pass a local directory or check the id; first runs download from the hub"
LOCAL_HINT = "the folder must hold a save_pretrained checkpoint: config, weights, tokenizer"
ARCH_HINT = "use a decoder-only chat model with a chat template, e.g. Qwen/Qwen2.5-0.5B-Instruct"




class TransformersReasoner:
    """A causal LM from the hub or a local folder, answering chat messages on this machine."""

    backend = "transformers"

    def __init__(
        self,
        model: str,
        *,
        device: str = "auto",
        max_new_tokens: int = 512,
        revision: str | None = None,
    ) -> None:
        if not model or not str(model).strip():
            raise ConfigError("no model name for the local reasoning LLM",
                              hint="pass --llm-model (a hub id or a local folder)")
        if max_new_tokens < 1:
            raise ConfigError(f"max new tokens must be at least 1, got {max_new_tokens}")
        self.model_id: str = str(model).strip()
        self.device_request = device
        self.max_new_tokens = int(max_new_tokens)
        self.revision = revision
        self.device: str | None = None
        # Multiplies the budget once an answer came back empty at the budget (remembered).
        self.budget_scale = 1
        self._system_role_ok = True
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.RLock()
        self._source()  # a missing local folder is a configuration error: report it now

    def __repr__(self) -> str:
        return f"TransformersReasoner({self.model_id!r}, device={self.device!r})"

    def missing_model(self) -> str | None:
        """The model, named, when it is not on this machine and cannot be downloaded."""
        return missing_hub_model("reasoning model", self.model_id, self.revision)

    @property
    def commit(self) -> str | None:
        """The hub commit the loaded weights came from (transformers records it on the
        config); None before loading and for local folders."""
        return hub_commit(self._model)

    @property
    def loaded(self) -> bool:
        return self._model is not None

    # -- loading ---------------------------------------------------------------------------

    def _load_error(self, what: str, exc: BaseException | None = None,
                    hint: str = LOAD_HINT) -> ModelLoadError:
        detail = f": {first_line(exc)}" if exc is not None else ""
        return ModelLoadError(
            f"cannot load reasoning model {self.model_id!r}: {what}{detail}", hint=hint
        )

    def _source(self) -> tuple[str, str]:
        if not looks_local(self.model_id):
            return self.model_id, LOAD_HINT
        path = Path(self.model_id).expanduser()
        if not path.is_dir():
            raise ModelLoadError(f"reasoning model directory not found: {path}",
                                 hint="pass an existing model folder or a hub id such as org/name")
        return str(path), LOCAL_HINT

    def load(self) -> None:
        """Load the tokenizer and model once (idempotent). Raises ``ModelLoadError``."""
        with self._lock:
            if self._model is None:
                self._load()

    def _load(self) -> None:
        from ..devices import configure_cpu_threads, resolve_device, torch_dtype

        source, hint = self._source()
        device = resolve_device(self.device_request)
        if device == "cpu":
            configure_cpu_threads()
        try:
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except Exception as exc:  # broken install (e.g. torchvision next to CPU torch)
            raise self._load_error("transformers failed to import", exc,
                                   hint="reinstall transformers; never install torchvision"
                                   ) from exc
        started = time.monotonic()
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, revision=self.revision)
            model = AutoModelForCausalLM.from_pretrained(
                source, revision=self.revision, dtype=torch_dtype(device)
            )
        except ValueError as exc:
            if "Unrecognized configuration class" in str(exc):
                raise self._load_error("not a causal (text generation) model",
                                       hint=ARCH_HINT) from exc
            raise self._load_error("loading failed", exc, hint=hint) from exc
        except Exception as exc:
            raise self._load_error("loading failed", exc, hint=hint) from exc
        if not getattr(tokenizer, "chat_template", None):
            raise self._load_error("its tokenizer has no chat template (not an instruct model?)",
                                   hint=ARCH_HINT)
        model.to(device)
        model.eval()
        self._tokenizer, self._model, self.device = tokenizer, model, device
        log.info("loaded reasoning model %s on %s in %.1f s", self.model_id, device,
                 time.monotonic() - started)

    # -- answering -------------------------------------------------------------------------

    def _encode(self, messages: Sequence[Message]) -> Any:
        """Token ids of the prompt through the chat template. A template that refuses the
        system role (Gemma's does) gets the instructions inside the first user message."""
        specials = _special_tokens(self._tokenizer)
        chat = [{**m, "content": neutralise_markers(m.get("content", ""), specials)}
                for m in developer_as_system(messages)]
        if not self._system_role_ok:
            chat = fold_system_messages(chat)
        try:
            return self._apply_template(chat)
        except Exception as exc:
            if not self._system_role_ok or not any(m.get("role") == "system" for m in chat):
                raise self._error("the chat template failed", exc) from exc
            try:
                encoded = self._apply_template(fold_system_messages(chat))
            except Exception:
                raise self._error("the chat template failed", exc) from exc
            self._system_role_ok = False  # remembered for later calls
            log.info("chat template of %s refused the system role (%s): folding it into the "
                     "user message", self.model_id, first_line(exc))
            return encoded

    def _apply_template(self, chat: list[Message]) -> Any:
        return self._tokenizer.apply_chat_template(
            chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )

    def _error(self, what: str, exc: BaseException | None = None,
               hint: str = "try a shorter input or another model") -> ReasonerError:
        detail = f": {first_line(exc)}" if exc is not None else ""
        return ReasonerError(f"local model {self.model_id!r}: {what}{detail}", hint=hint)

    def _context_limit(self) -> int | None:
        config = self._model.config
        config = getattr(config, "text_config", None) or config
        limit = getattr(config, "max_position_embeddings", None)
        return int(limit) if isinstance(limit, int) and limit > 0 else None

    def _generate(self, inputs: Any, budget: int) -> tuple[list[int], str]:
        """New token ids (one sequence, so no padding) and the finish reason."""
        import torch

        model, tokenizer = self._model, self._tokenizer
        config = copy.deepcopy(model.generation_config)
        config.do_sample = False
        config.num_beams = 1
        config.temperature = config.top_p = config.top_k = None
        config.max_new_tokens = budget
        eos = config.eos_token_id if config.eos_token_id is not None else tokenizer.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos]) - {None}
        if config.pad_token_id is None:
            config.pad_token_id = tokenizer.pad_token_id
            if config.pad_token_id is None and eos_ids:
                config.pad_token_id = min(eos_ids)
        n_prompt = int(inputs["input_ids"].shape[-1])
        try:
            with torch.inference_mode():
                output = model.generate(**inputs.to(self.device), generation_config=config)
        except Exception as exc:
            raise self._error("generation failed", exc) from exc
        new = [int(t) for t in output[0, n_prompt:].tolist()]
        stopped = bool(new) and new[-1] in eos_ids
        finish = "stop" if stopped or len(new) < budget else "length"
        return new, finish

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_output_tokens: int | None = None,
        json_mode: bool = False,
    ) -> Completion:
        """One greedy answer to ``messages``; ``json_mode`` is not enforced locally."""
        check_output_budget(max_output_tokens)
        with self._lock:
            if self._model is None:
                self._load()
            inputs = self._encode(messages)
            n_prompt = int(inputs["input_ids"].shape[-1])
            limit = self._context_limit()
            if limit is not None and n_prompt >= limit:
                raise self._error(
                    f"the prompt is {n_prompt} tokens, beyond the model's context of {limit}",
                    hint="use a model with a longer context, a longer interval, or --no-llm",
                )
            requested = max_output_tokens or self.max_new_tokens
            room = (limit - n_prompt) if limit is not None else None
            grown = False
            started = time.monotonic()
            while True:
                budget = requested * self.budget_scale
                budget = min(budget, room) if room is not None else budget
                new, finish = self._generate(inputs, budget)
                raw = self._tokenizer.decode(new, skip_special_tokens=True)
                text = strip_thinking(raw)
                if text or finish != "length" or grown or (room is not None and budget >= room):
                    break
                grown = True
                self.budget_scale *= LENGTH_RETRY_FACTOR
                log.warning("local model %s spent its %d-token budget without an answer: "
                            "asking again with more", self.model_id, budget)
        if not text and finish == "length":
            raise self._error("empty answer: output budget exhausted (finish_reason=length)",
                              hint="raise the output budget or use another model")
        if not text:
            raise self._error(f"empty answer (finish_reason={finish})",
                              hint="the model returned no text; use another model")
        log.debug("local model %s answered in %.1f s: %d prompt + %d completion tokens",
                  self.model_id, time.monotonic() - started, n_prompt, len(new))
        return Completion(
            text=text,
            usage=Usage(prompt_tokens=n_prompt, completion_tokens=len(new)),
            model=self.model_id,
            finish_reason=finish,
            json_mode_used=False,
        )


def _special_tokens(tokenizer: Any) -> list[str]:
    """The tokenizer's special tokens as text: in a message they would be control tokens."""
    found = set(getattr(tokenizer, "all_special_tokens", None) or ())
    decoder = getattr(tokenizer, "added_tokens_decoder", None) or {}
    found.update(t.content for t in decoder.values() if getattr(t, "special", False))
    return sorted(found)
