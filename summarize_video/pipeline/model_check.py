"""Before any model loads: every model a run needs, checked at once.

A first run on a machine without the models (downloads off, or a local folder mistyped) used
to learn of them one at a time, each after the work before it. Each backend that loads a
model says with ``missing_model()`` whether its model is neither on this machine nor
downloadable; here they are asked together and reported in one error.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ModelLoadError
from ..model_refs import downloads_off

TRIAL_HINT = ("point --caption-model, --whisper-model and --llm-model at local folders or "
              "files, or allow downloads once (unset HF_HUB_OFFLINE); to try the tool without "
              "any download, see 'Try it without downloads' in the README")


def missing_models(stages: Sequence[object]) -> list[str]:
    """The models of ``stages`` (backends, a transcriber inside its gate, None for a stage
    not used) that cannot be had, each named with its kind."""
    missing = []
    for stage in stages:
        backend = getattr(stage, "backend", None)
        if backend is not None and not isinstance(backend, str):  # a gated transcriber
            stage = backend
        check = getattr(stage, "missing_model", None)
        found = check() if callable(check) else None
        if found:
            missing.append(str(found))
    return missing


def check_models(stages: Sequence[object]) -> None:
    """Raise one ``ModelLoadError`` naming every missing model, with the ways out."""
    missing = missing_models(stages)
    if not missing:
        return
    why = " with downloads off (HF_HUB_OFFLINE)" if downloads_off() else ""
    count = "a model" if len(missing) == 1 else f"{len(missing)} models"
    raise ModelLoadError(f"{count} this run needs {'is' if len(missing) == 1 else 'are'} not on "
                         f"this machine{why}: {'; '.join(missing)}", hint=TRIAL_HINT)
