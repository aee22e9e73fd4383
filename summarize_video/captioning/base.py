"""The captioning protocol: frames in, one caption each out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..model_refs import ClassNameModelId

if TYPE_CHECKING:
    from ..media.frames import Frame
    from ..options import Options


@runtime_checkable
class Captioner(Protocol):
    """Anything that turns frames into one caption each, in order.

    ``contexts``, when given, holds per frame the speech heard around it (``None`` or ``""``:
    none); a captioner that cannot use it ignores it. A backend in the registry also has a
    classmethod ``from_options(options)`` and, optionally, ``available(device) -> bool`` (what
    ``auto`` asks) and ``load()`` (load the model now, to fail fast). ``model_id`` names
    the model in cache keys and provenance; a subclass that sets none gets its class name.
    """

    model_id: str = ClassNameModelId()  # type: ignore[assignment]

    def caption(
        self, frames: Sequence[Frame], contexts: Sequence[str | None] | None = None
    ) -> list[str]: ...


class CaptionBackend(Captioner, Protocol):
    """A captioner that the registry can build by name."""

    @classmethod
    def from_options(cls, options: Options) -> CaptionBackend: ...
