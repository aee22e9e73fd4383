"""Build tiny random-weight models that load through the real loading code.

The captioners are saved with ``save_pretrained`` and loaded by ``from_pretrained``; the whisper
checkpoint is a ``.pt`` file loaded by ``whisper.load_model``. Their outputs are gibberish, but
every code path is the one real models take. For tests, benchmarks and offline trials:

    python -m summarize_video.testing.tiny_models tiny-models/
    summarize-video samples/sample.mp4 --caption-model tiny-models/smolvlm \\
        --whisper-model tiny-models/whisper.pt --temperature-increment 0 --no-llm
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .tiny_captioners import build_all as build_captioners
from .tiny_captioners import build_tiny_idefics3
from .tiny_whisper import build_tiny_whisper


def build_all(dest: Path | str) -> dict[str, Path]:
    """Captioners in ``blip/``, ``florence2/``, ``smolvlm/`` and ``whisper.pt`` under ``dest``."""
    root = Path(dest)
    root.mkdir(parents=True, exist_ok=True)
    models = dict(build_captioners(root))
    models["whisper"] = build_tiny_whisper(root / "whisper.pt")
    return models


def kept_smolvlm_and_whisper(root: Path | str) -> dict[str, Path]:
    """A tiny SmolVLM (Idefics3) in ``smolvlm/`` and ``whisper.pt`` under ``root``, built only
    when missing (benchmarks keep them between runs)."""
    root = Path(root)
    paths = {"smolvlm": root / "smolvlm", "whisper": root / "whisper.pt"}
    if not (paths["smolvlm"] / "config.json").is_file():
        build_tiny_idefics3(paths["smolvlm"])
    if not paths["whisper"].is_file():
        build_tiny_whisper(paths["whisper"])
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", type=Path, help="folder to build the models in")
    args = parser.parse_args(argv)
    for name, path in build_all(args.dest).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
