"""Captioning through the real transformers loading code, on tiny random-weight models."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from summarize_video.captioning import (
    CAPTIONERS,
    Captioner,
    TransformersCaptioner,
    clean_caption,
    create_captioner,
)
from summarize_video.errors import ConfigError, ModelLoadError
from summarize_video.frames import Frame

REPO = Path(__file__).resolve().parents[1]
FAMILIES = {"blip": "blip", "florence2": "florence2", "smolvlm": "chat"}
SIZES = [(64, 48), (320, 180), (33, 77), (640, 360), (100, 100)]


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import torch

    torch.set_num_threads(1)
    from summarize_video.testing.tiny_captioners import build_all

    return build_all(tmp_path_factory.mktemp("captioners"))


@pytest.fixture(scope="module")
def captioners(tiny_models: dict[str, Path]) -> dict[str, TransformersCaptioner]:
    return {
        name: TransformersCaptioner(str(path), device="cpu", batch_size=2, max_new_tokens=8)
        for name, path in tiny_models.items()
    }


@pytest.fixture
def frames() -> list[Frame]:
    return [
        Frame(t=float(i), image=Image.new("RGB", size, (40 * i, 120, 200 - 30 * i)))
        for i, size in enumerate(SIZES)
    ]


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family_detected_and_loaded(captioners: dict[str, TransformersCaptioner], name: str):
    captioner = captioners[name]
    captioner.load()
    assert captioner.loaded
    assert captioner.family == FAMILIES[name]
    assert captioner.device == "cpu"
    model = captioner._model
    captioner.load()  # idempotent: loads once per instance
    assert captioner._model is model
    expected_class = {
        "blip": "BlipForConditionalGeneration",
        "florence2": "Florence2ForConditionalGeneration",
        "smolvlm": "Idefics3ForConditionalGeneration",
    }[name]
    assert type(model).__name__ == expected_class


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_caption_batches_in_order(
    captioners: dict[str, TransformersCaptioner],
    frames: list[Frame],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
):
    captioner = captioners[name]
    captioner.load()
    real_generate = captioner._model.generate
    batch_sizes: list[int] = []

    def counting_generate(*args, **kwargs):
        batch_sizes.append(kwargs["pixel_values"].shape[0])
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(captioner._model, "generate", counting_generate)
    captions = captioner.caption(frames)
    assert len(captions) == len(frames)
    assert all(isinstance(c, str) for c in captions)
    assert all(c == " ".join(c.split()) for c in captions)
    assert batch_sizes == [2, 2, 1]  # batch_size=2 with a ragged last batch
    if name in ("smolvlm", "florence2"):
        assert all(captions), captions
        assert not any("<" in c for c in captions), captions


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_decodes_only_new_tokens(
    captioners: dict[str, TransformersCaptioner],
    frames: list[Frame],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
):
    """A fake generate returns known ids: captions keep only the new words, cleaned."""
    import torch

    captioner = captioners[name]
    captioner.load()
    tok = captioner._processor.tokenizer
    words = tok.convert_tokens_to_ids(["red", "dog"])

    def fake_generate(*args, **kwargs):
        n = kwargs["pixel_values"].shape[0]
        if name == "blip":
            row = [tok.bos_token_id, *words, tok.sep_token_id, tok.pad_token_id]
        elif name == "florence2":
            row = [tok.eos_token_id, tok.bos_token_id, *words, tok.eos_token_id]
        else:
            prompt = kwargs["input_ids"]
            new = torch.tensor([[*words, tok.eos_token_id]] * n)
            return torch.cat([prompt, new], dim=1)
        return torch.tensor([row] * n)

    monkeypatch.setattr(captioner._model, "generate", fake_generate)
    assert captioner.caption(frames[:3]) == ["red dog"] * 3


def test_chat_vlm_pads_left(captioners: dict[str, TransformersCaptioner]):
    captioner = captioners["smolvlm"]
    captioner.load()
    processor = captioner._processor
    assert processor.tokenizer.padding_side == "left"
    short = captioner.chat_text()
    long = short.replace("Describe", "Describe red dog cat car street room")
    image = Image.new("RGB", (48, 48))
    inputs = processor(text=[short, long], images=[image, image], padding=True,
                       return_tensors="pt")
    mask = inputs["attention_mask"]
    assert mask[0, 0] == 0 and mask[0, -1] == 1  # the short prompt is padded on the left
    assert bool(mask[1].all())


def test_chat_vlm_image_splitting_off(
    tiny_models: dict[str, Path], captioners: dict[str, TransformersCaptioner]
):
    saved = json.loads((tiny_models["smolvlm"] / "processor_config.json").read_text())
    assert saved["image_processor"]["do_image_splitting"] is True  # like real SmolVLM
    captioner = captioners["smolvlm"]
    captioner.load()
    assert captioner._processor.image_processor.do_image_splitting is False
    inputs = captioner.build_inputs([Image.new("RGB", (640, 360))])
    assert tuple(inputs["pixel_values"].shape[:2]) == (1, 1)  # one tile, no sub-images
    image_id = captioner._model.config.image_token_id
    assert int((inputs["input_ids"] == image_id).sum()) == captioner._processor.image_seq_len


def test_florence_task_token(captioners: dict[str, TransformersCaptioner]):
    captioner = captioners["florence2"]
    assert captioner.florence_task() == "<MORE_DETAILED_CAPTION>"
    short = TransformersCaptioner(captioner.model_id, prompt="<CAPTION>")
    assert short.florence_task() == "<CAPTION>"


def test_empty_input_does_not_load(tiny_models: dict[str, Path]):
    captioner = TransformersCaptioner(str(tiny_models["blip"]), device="cpu")
    assert captioner.caption([]) == []
    assert not captioner.loaded


def test_missing_local_dir(tmp_path: Path):
    missing = tmp_path / "no-such-model"
    captioner = TransformersCaptioner(str(missing), device="cpu")
    with pytest.raises(ModelLoadError) as info:
        captioner.caption([Frame(t=0.0, image=Image.new("RGB", (8, 8)))])
    assert str(missing) in str(info.value)
    assert "\n" not in str(info.value)


def test_folder_without_checkpoint(tmp_path: Path):
    with pytest.raises(ModelLoadError) as info:
        TransformersCaptioner(str(tmp_path), device="cpu").load()
    assert str(tmp_path) in str(info.value)


def test_unsupported_architecture(tmp_path: Path):
    from transformers import BertConfig

    BertConfig(vocab_size=16, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
               intermediate_size=8).save_pretrained(tmp_path)
    with pytest.raises(ModelLoadError, match="unsupported architecture 'bert'"):
        TransformersCaptioner(str(tmp_path), device="cpu").load()


def test_bad_options():
    with pytest.raises(ConfigError):
        TransformersCaptioner("x/y", batch_size=0)
    with pytest.raises(ConfigError):
        TransformersCaptioner("x/y", max_new_tokens=0)


def test_registry(tiny_models: dict[str, Path]):
    assert CAPTIONERS["transformers"] is TransformersCaptioner
    captioner = create_captioner("transformers", model=str(tiny_models["blip"]), device="cpu")
    assert isinstance(captioner, Captioner)
    assert captioner.model_id == str(tiny_models["blip"])
    with pytest.raises(ConfigError) as info:
        create_captioner("nope")
    assert "transformers" in str(info.value)


def test_clean_caption():
    assert clean_caption("  a \n dog\t runs ") == "a dog runs"
    assert clean_caption(None) == ""
    assert clean_caption("   ") == ""


def test_import_is_lazy():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    code = "import summarize_video.captioning, sys; assert 'torch' not in sys.modules"
    code += "; assert 'transformers' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=REPO)
