"""``summarize-video models``: each stage's backends, which are installed, and what a run with
the same flags, environment and config file would use (backend, model, device)."""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from ..captioning.registry import CAPTIONERS, resolve_captioner
from ..devices import resolve_device
from ..errors import EXIT_OK, ConfigError
from ..options import (
    DEFAULT_LLM_MODEL,
    DEFAULT_WHISPER_MODEL_CPU,
    DEFAULT_WHISPER_MODEL_CUDA,
    Options,
)
from ..reasoning.registry import REASONERS, default_model_for, resolve_reasoner
from ..transcription.registry import TRANSCRIBERS, resolve_transcriber
from .flags import options_from

# The module a reasoner backend needs (reasoners have no ``available`` check of their own).
_REASONER_NEEDS = {"openai": "openai", "transformers": "transformers"}


def show_models(values: dict[str, Any], json_out: bool) -> int:
    report = models_report(options_from(values))
    if json_out:
        click.echo(json.dumps(report, ensure_ascii=False))
        return EXIT_OK
    out = Console(soft_wrap=True)
    table = Table(title=f"device: {report['device']}", title_justify="left")
    for name in ("stage", "backend", "installed", "used", "model"):
        table.add_column(name, overflow="fold", no_wrap=name != "model")
    for stage, info in report["stages"].items():
        for b in info["backends"]:
            used = "yes" if b["name"] == info["backend"] else ""
            table.add_row(stage, b["name"], "yes" if b["installed"] else "no",
                          f"[green]{used}[/]" if used else "", b["model"])
        if info["backend"] is None:
            table.add_row(stage, "-", "", "[yellow]none[/]", info["note"])
    out.print(table)
    return EXIT_OK


def models_report(o: Options) -> dict[str, Any]:
    """What ``models`` shows: per stage, every registered backend with whether it is
    installed and the model it would load, and the backend a run would use (None, with a
    note, when none would run)."""
    device = resolve_device(o.device)
    whisper = o.whisper_model or (DEFAULT_WHISPER_MODEL_CUDA if device.startswith("cuda")
                                  else DEFAULT_WHISPER_MODEL_CPU)
    stages = {
        "captioner": _stage(CAPTIONERS, device, lambda _name: o.caption_model,
                            lambda: resolve_captioner(o.captioner, device)),
        "transcriber": _stage(TRANSCRIBERS, device, lambda _name: whisper,
                              lambda: resolve_transcriber(o.transcriber, device, whisper)),
        "reasoner": _stage(REASONERS, device, lambda name: _llm_model(o, name),
                           lambda: resolve_reasoner(o.reasoner, api_key=o.api_key,
                                                    base_url=o.base_url)),
    }
    if o.no_llm:
        stages["reasoner"].update(backend=None, model=None,
                                  note="--no-llm: no reasoning model is called")
    return {"device": device, "stages": stages}


def _llm_model(o: Options, backend: str) -> str:
    chosen = o.llm_model.strip() if o.llm_model else ""
    return chosen if chosen and chosen != DEFAULT_LLM_MODEL else default_model_for(backend)


def _stage(registry: dict[str, Any], device: str, model: Any, pick: Any) -> dict[str, Any]:
    backends = [{"name": name, "installed": _installed(name, cls, device), "model": model(name)}
                for name, cls in registry.items()]
    try:
        used, note = pick(), ""
    except ConfigError as exc:
        used, note = None, exc.one_line()
    if used is not None and not any(b["name"] == used and b["installed"] for b in backends):
        used, note = None, f"{used} is not installed"
    return {"backend": used, "model": None if used is None else model(used), "note": note,
            "backends": backends}


def _installed(name: str, cls: Any, device: str) -> bool:
    available = getattr(cls, "available", None)
    if callable(available):
        return bool(available(device))
    module = _REASONER_NEEDS.get(name)
    return module is None or importlib.util.find_spec(module) is not None
