"""Screen readers by name, and the ``--ocr`` switch: ``auto`` reads when a backend is installed,
``on`` requires one, ``off`` never reads.

A new backend is one file in this folder (a ``ReaderBackend``) and one line in ``READERS``.
"""

from __future__ import annotations

from ..errors import ConfigError
from ..options import OCR_MODES, Options, check_choice
from .base import ReaderBackend
from .rapid import INSTALL_HINT, RapidOcrReader

READERS: dict[str, type[ReaderBackend]] = {
    "rapidocr": RapidOcrReader,
}
# What ``auto`` and ``on`` try, best first; the first one installed is used.
AUTO_ORDER: tuple[str, ...] = ("rapidocr",)


def resolve_reader(mode: str, device: str = "auto") -> str | None:
    """The registry name of the reader ``--ocr mode`` uses, or None when nothing is read
    (``off``, or ``auto`` with no backend installed). ConfigError for ``on`` without one and
    for an unknown mode."""
    key = str(mode).strip().lower()
    check_choice(key, OCR_MODES, "--ocr value", shown=mode)
    if key == "off":
        return None
    for name in AUTO_ORDER:
        available = getattr(READERS.get(name), "available", None)
        if name in READERS and (available is None or available(device)):
            return name
    if key == "on":
        raise ConfigError("--ocr on, but no OCR backend is installed", stage="options",
                          hint=INSTALL_HINT)
    return None


def create_reader(mode: str = "auto", options: Options | None = None) -> ReaderBackend | None:
    """The reader ``--ocr mode`` stands for, built from ``options``; None when off."""
    o = options or Options()
    name = resolve_reader(mode, o.device)
    if name is None:
        return None
    reader = READERS[name].from_options(o)
    return reader
