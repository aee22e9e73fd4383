"""Before any work: every model a run needs, checked at once.

A first run on a machine without the models (downloads off, or a local folder mistyped) used
to learn of them one at a time, each after the work before it. Each backend that loads a
model says with ``missing_model()`` whether its model is neither on this machine nor
downloadable; here they are asked together and reported in one error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ModelLoadError
from ..model_refs import downloads_off

if TYPE_CHECKING:
    from .summarizer import Summarizer

TRIAL_HINT = ("point --caption-model, --whisper-model and --llm-model at local folders or "
              "files, or allow downloads once (unset HF_HUB_OFFLINE); to try the tool without "
              "any download, see 'Try it without downloads' in the README")


def missing_models(summarizer: Summarizer) -> list[str]:
    """The models ``summarizer`` would load that cannot be had, each named with its kind."""
    transcriber = summarizer.transcriber
    stages: list[object] = [summarizer.captioner,
                            getattr(transcriber, "backend", transcriber),  # inside the gate
                            summarizer.reasoner]
    missing = []
    for stage in stages:
        check = getattr(stage, "missing_model", None)
        found = check() if callable(check) else None
        if found:
            missing.append(str(found))
    return missing


def check_models(summarizer: Summarizer) -> None:
    """Raise one ``ModelLoadError`` naming every missing model, with the ways out."""
    missing = missing_models(summarizer)
    if not missing:
        return
    why = " with downloads off (HF_HUB_OFFLINE)" if downloads_off() else ""
    count = "a model" if len(missing) == 1 else f"{len(missing)} models"
    raise ModelLoadError(f"{count} this run needs {'is' if len(missing) == 1 else 'are'} not on "
                         f"this machine{why}: {'; '.join(missing)}", hint=TRIAL_HINT)
