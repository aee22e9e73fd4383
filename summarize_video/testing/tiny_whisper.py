"""A tiny random-weight whisper checkpoint: the real loading and decoding code, in a second.

The text is gibberish, but ``whisper.load_model(path)`` and ``model.transcribe(array)`` run the
same code as for a real model. Decode with ``temperature=0.0`` and no fallback (increment 0):
random weights never pass whisper's quality thresholds, so every fallback temperature is tried.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

N_VOCAB_MULTILINGUAL = 51865
N_VOCAB_ENGLISH = 51864


def build_tiny_whisper(dest: Path, *, multilingual: bool = True, seed: int = 0) -> Path:
    """Write a ~2 MB whisper checkpoint to ``dest`` (a ``.pt`` path) and return ``dest``."""
    import torch
    from whisper.model import ModelDimensions, Whisper

    dims = ModelDimensions(
        n_mels=80,  # 80 or 128 (v3); the mel filter bank only exists for these
        n_audio_ctx=1500,  # fixed: 30 s of mel frames after the stride-2 convolution
        n_audio_state=8,
        n_audio_head=2,
        n_audio_layer=1,
        n_vocab=N_VOCAB_MULTILINGUAL if multilingual else N_VOCAB_ENGLISH,
        n_text_ctx=64,  # small: random weights decode up to n_text_ctx // 2 tokens per window
        n_text_state=8,  # the token embedding is n_vocab x n_text_state: keep it tiny
        n_text_head=2,
        n_text_layer=1,
    )
    torch.manual_seed(seed)
    model = Whisper(dims)
    with torch.no_grad():
        # Allocated with torch.empty and left for the checkpoint to fill: garbage (NaN) otherwise.
        torch.nn.init.normal_(model.decoder.positional_embedding, std=0.02)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"dims": asdict(dims), "model_state_dict": model.state_dict()}, dest)
    return dest
