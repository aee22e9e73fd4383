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

from summarize_video.captioning.base import Captioner
from summarize_video.captioning.guards import NewTokensNoRepeatNGram
from summarize_video.captioning.registry import CAPTIONERS, create_captioner
from summarize_video.captioning.transformers import TransformersCaptioner
from summarize_video.errors import ConfigError, ModelLoadError
from summarize_video.media.frames import Frame
from summarize_video.options import Options

REPO = Path(__file__).resolve().parents[1]
# Read by path: with PYTHONPATH on a worktree, summarize_video.prompts may resolve elsewhere.
CONTEXT_PROMPT = (REPO / "prompts" / "caption_context.txt").read_text(encoding="utf-8")
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
    # Resized once, straight to the encoder's square (not first up to the tiling size).
    side = captioner._processor.image_processor.max_image_size["longest_edge"]
    assert tuple(inputs["pixel_values"].shape[-2:]) == (side, side)
    assert saved["image_processor"]["size"]["longest_edge"] > side
    assert captioner._processor.image_processor.do_resize is False
    assert bool(inputs["pixel_attention_mask"].all())  # no padding: the whole square is frame


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
    captioner = create_captioner("transformers", caption_model=str(tiny_models["blip"]),
                                 device="cpu")
    # auto on the CPU is the onnx captioner, which runs BLIP on PyTorch as transformers does.
    assert create_captioner("auto", caption_model=str(tiny_models["blip"]),
                            device="cpu").name == "onnx"
    assert isinstance(captioner, Captioner)
    assert captioner.model_id == str(tiny_models["blip"])
    with pytest.raises(ConfigError) as info:
        create_captioner("nope")
    assert "transformers" in str(info.value)


def test_import_is_lazy():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    code = "import summarize_video.captioning.transformers, sys; assert 'torch' not in sys.modules"
    code += "; assert 'transformers' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=REPO)


def test_chat_user_text_with_and_without_speech(captioners: dict[str, TransformersCaptioner]):
    base = captioners["smolvlm"]
    captioner = TransformersCaptioner(base.model_id, prompt="Describe this image.",
                                      context_prompt="Speaker: $speech. Describe this image.")
    base.load()
    captioner._processor = base._processor  # the templates need a processor, not a model
    assert captioner.user_text(None) == "Describe this image."
    assert captioner.user_text("  \n ") == "Describe this image."
    said = captioner.user_text(" the  $5 red\ncar ")  # a $ in speech is text, not a variable
    assert said == "Speaker: the $5 red car. Describe this image."
    chat = captioner.chat_text("the red car")
    assert chat.startswith("<|im_start|>User:<image>Speaker: the red car.")
    assert chat.endswith("Assistant:")


# -- captioning with contexts ------------------------------------------------------------------


def _word_trigrams(text: str) -> list[tuple[str, ...]]:
    words = text.split()
    return [tuple(words[i:i + 3]) for i in range(len(words) - 2)]


def test_mixed_contexts_batch_like_alone(tiny_models: dict[str, Path], frames: list[Frame]):
    """Left padding and the attention mask make a frame's caption independent of its batch."""
    captioner = TransformersCaptioner(str(tiny_models["smolvlm"]), device="cpu", batch_size=5,
                                      max_new_tokens=24, context_prompt=CONTEXT_PROMPT)
    contexts = [None, "the red car near the house with two people", "", "dog",
                "a man and a woman sitting at a table in the room with a blue window"]
    inputs = captioner.build_inputs([f.image.convert("RGB") for f in frames], contexts)
    lengths = inputs["attention_mask"].sum(dim=1).tolist()
    assert lengths[0] == lengths[2] < lengths[3] < lengths[1] < lengths[4]  # ""/None: plain
    assert inputs["attention_mask"][0, 0] == 0  # padded on the left
    tok = captioner._processor.tokenizer
    red, car = tok.convert_tokens_to_ids(["red", "car"])
    assert {red, car} <= set(inputs["input_ids"][1].tolist())  # the speech is in the prompt
    assert red not in inputs["input_ids"][0].tolist()

    batched = captioner.caption(frames, contexts)  # one batch of five
    alone = [captioner.caption([f], [c])[0] for f, c in zip(frames, contexts, strict=True)]
    assert batched == alone
    assert captioner.caption(frames[:1]) == batched[:1]  # None context = no contexts at all
    plain = captioner.caption(frames)
    assert batched[1] != plain[1]  # the speech changed what the model was asked (and said)
    for caption in batched:  # no trigram twice within a caption (the prompt does not count)
        assert len(set(_word_trigrams(caption))) == len(_word_trigrams(caption)), caption


@pytest.mark.parametrize("name", ["blip", "florence2"])
def test_contexts_ignored_without_chat(
    captioners: dict[str, TransformersCaptioner], frames: list[Frame], name: str
):
    captioner = captioners[name]
    contexts = ["the red car", None, "a long speech " * 20, "", "dog"]
    assert captioner.caption(frames, contexts) == captioner.caption(frames)
    assert captioner.context_prompt is None  # the context prompt was never even read


def test_contexts_must_match_frames(captioners: dict[str, TransformersCaptioner],
                                    frames: list[Frame]):
    with pytest.raises(ValueError, match="2 contexts for 5 frames"):
        captioners["blip"].caption(frames, ["a", "b"])


def test_old_style_captioner_still_a_captioner():
    class OldCaptioner:
        model_id = "old"

        def caption(self, frames):
            return ["x"] * len(frames)

    assert isinstance(OldCaptioner(), Captioner)


# -- generation guards -------------------------------------------------------------------------


def test_generation_guards(captioners: dict[str, TransformersCaptioner]):
    assert TransformersCaptioner("x/y").max_new_tokens == Options().caption_max_new_tokens
    for name in ("blip", "florence2"):
        captioners[name].load()
        kwargs = captioners[name]._generation_kwargs()
        assert kwargs["no_repeat_ngram_size"] == 3 and kwargs["do_sample"] is False
        assert "repetition_penalty" not in kwargs
    chat = captioners["smolvlm"]
    chat.load()
    kwargs = chat._generation_kwargs(17)
    assert kwargs["no_repeat_ngram_size"] == 0 and "repetition_penalty" not in kwargs
    (guard,) = kwargs["logits_processor"]
    assert isinstance(guard, NewTokensNoRepeatNGram)
    assert (guard.n, guard.prompt_length) == (3, 17)


# -- loading: remote code, threads -------------------------------------------------------------


def test_remote_code_config_refused(tmp_path: Path):
    (tmp_path / "config.json").write_text(json.dumps({
        "model_type": "my-custom-vlm",
        "auto_map": {"AutoConfig": "configuration_my.MyConfig",
                     "AutoModelForImageTextToText": "modeling_my.MyModel"},
    }))
    (tmp_path / "configuration_my.py").write_text("raise SystemExit('remote code ran')\n")
    captioner = TransformersCaptioner(str(tmp_path), device="cpu")
    assert captioner.trust_remote_code is False
    with pytest.raises(ModelLoadError, match="trust_remote_code=True") as info:
        captioner.load()
    assert "\n" not in str(info.value)
    assert not captioner.loaded


def test_remote_code_model_refused(tmp_path: Path):
    """A config transformers knows, whose model class only the repository's code provides."""
    from transformers import BertConfig

    config = BertConfig(vocab_size=16, hidden_size=8, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=8)
    config.auto_map = {"AutoModelForImageTextToText": "modeling_my.MyVlm"}
    config.save_pretrained(tmp_path)
    with pytest.raises(ModelLoadError, match="trust_remote_code=True"):
        TransformersCaptioner(str(tmp_path), device="cpu").load()


def test_cpu_threads_configured_on_cpu_load(tiny_models: dict[str, Path],
                                            monkeypatch: pytest.MonkeyPatch):
    import summarize_video.captioning.transformers as captioning

    calls: list[int] = []
    monkeypatch.setattr(captioning, "configure_cpu_threads", lambda: calls.append(1))
    TransformersCaptioner(str(tiny_models["blip"]), device="cpu").load()
    assert calls == [1]

