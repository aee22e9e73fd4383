"""Captions fit the job: one sentence, a token cap sized for it, a stop at the sentence's end,
and a caption cut mid-sentence trimmed back to its first full sentence."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import shutil
from pathlib import Path

import pytest
from PIL import Image

from summarize_video.captioning.sentences import SentenceStop, first_sentence, sentence_end
from summarize_video.captioning.transformers import TransformersCaptioner, clean_caption
from summarize_video.cli.main import cli
from summarize_video.media.frames import Frame
from summarize_video.options import Options

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_smolvlm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    torch.set_num_threads(1)
    from summarize_video.testing.tiny_captioners import build_tiny_idefics3

    return build_tiny_idefics3(tmp_path_factory.mktemp("caplen") / "smolvlm")


def frames(n: int = 5) -> list[Frame]:
    return [Frame(t=float(i), image=Image.new("RGB", (96 + 16 * i, 64), (50 * i, 120, 90)))
            for i in range(n)]


# -- the trimming rule -------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("A man speaks at a podium. Behind him a slide reads", "A man speaks at a podium."),
    ("Two people talk! One of them", "Two people talk!"),
    ("Is this a lab? A woman in a white", "Is this a lab?"),
    ('She says "hello." Then the', 'She says "hello."'),
    ("A man at a desk with a laptop and a", "A man at a desk with a laptop and a"),
    ("A man at a desk.", "A man at a desk."),
    ("Dr. Smith points at a chart of 3.5 million users", "Dr. Smith points at a chart of 3.5 "
     "million users"),
    ("A slide titled J. K. Rowling. A woman", "A slide titled J. K. Rowling."),
    ("1. A list of items on a slide", "1. A list of items on a slide"),
    ("The price is 12. Then a", "The price is 12. Then a"),
    ("", ""),
])
def test_a_caption_that_runs_on_is_cut_after_its_first_sentence(text: str, expected: str):
    assert first_sentence(text) == expected


def test_clean_caption_trims_and_still_cuts_loops():
    assert clean_caption("  A man   talks.\nHe holds a") == "A man talks."
    assert clean_caption("a man a man a man a man") == "a man"
    assert clean_caption(None) == ""


def test_a_sentence_ends_only_once_something_follows_its_terminator():
    # At the very end of a text being generated, "3." may still become "3.5".
    assert sentence_end("A chart of 3.") is None
    assert sentence_end("A chart.") is None
    assert sentence_end("A chart. ") == len("A chart.")
    assert sentence_end("Mr. Smith talks") is None


# -- the cap, the prompt, --help ---------------------------------------------------------------


def test_the_default_cap_fits_one_sentence_and_help_says_so(cli_runner):
    assert 20 <= Options().caption_max_new_tokens <= 40
    assert TransformersCaptioner("x/y").max_new_tokens == Options().caption_max_new_tokens
    out = cli_runner.invoke(cli, ["summarize", "--help"]).output
    flat = " ".join(out.split())
    assert "--caption-max-new-tokens" in flat and "one sentence" in flat
    assert f"[default: {Options().caption_max_new_tokens};" in flat


@pytest.mark.parametrize("name", ["caption.txt", "caption_context.txt"])
def test_the_caption_prompts_ask_for_one_short_sentence(name: str):
    text = (REPO / "prompts" / name).read_text(encoding="utf-8").lower()
    assert "one short sentence" in text and "25 words" in text


def test_tiny_model_captions_never_exceed_the_cap(tiny_smolvlm: Path):
    for cap in (1, 3, 7):
        captioner = TransformersCaptioner(str(tiny_smolvlm), device="cpu", batch_size=2,
                                          max_new_tokens=cap)
        captions = captioner.caption(frames())
        tokenizer = captioner._processor.tokenizer
        assert len(captions) == 5
        for text in captions:
            assert len(tokenizer(text, add_special_tokens=False)["input_ids"]) <= cap


# -- the stop at the sentence's end --------------------------------------------------------------


def test_the_stop_criterion_is_per_row(tiny_smolvlm: Path):
    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_smolvlm)
    ids = {w: tokenizer.convert_tokens_to_ids(w) for w in ("this", ".", "image", "<pad>")}
    stop = SentenceStop(lambda row: tokenizer.decode(row, skip_special_tokens=True), 1)
    rows = torch.tensor([
        [ids["<pad>"], ids["this"], ids["image"], ids["."], ids["this"]],  # ". this": done
        [ids["<pad>"], ids["this"], ids["image"], ids["image"], ids["."]],  # ends on ".": not yet
        [ids["."], ids["this"], ids["image"], ids["image"], ids["this"]],  # "." is the prompt
    ])
    assert stop(rows, None).tolist() == [True, False, False]


def sentence_model(source: Path, dest: Path) -> Path:
    """The tiny SmolVLM with weights set so that greedy decoding writes "this" until the
    no-repeat guard bans it, then ".", then "this" again: a sentence that ends, and runs on."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoTokenizer

    shutil.copytree(source, dest)
    model = AutoModelForImageTextToText.from_pretrained(dest)
    tokenizer = AutoTokenizer.from_pretrained(dest)
    text = model.model.text_model
    with torch.no_grad():
        for layer in text.layers:  # each position's state is its own token's embedding
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        text.embed_tokens.weight[:, 0] = 1.0
        text.norm.weight.zero_()
        text.norm.weight[0] = 1.0
        head = torch.zeros_like(model.lm_head.weight)
        head[tokenizer.convert_tokens_to_ids("this"), 0] = 2.0
        head[tokenizer.convert_tokens_to_ids("."), 0] = 1.0
        model.lm_head.weight = torch.nn.Parameter(head)
    model.config.tie_word_embeddings = False
    model.save_pretrained(dest)
    return dest


def test_generation_stops_at_the_end_of_the_first_sentence(tiny_smolvlm: Path, tmp_path: Path):
    import torch

    model = sentence_model(tiny_smolvlm, tmp_path / "sentence")
    captioner = TransformersCaptioner(str(model), device="cpu", batch_size=2, max_new_tokens=20)
    assert captioner.caption(frames(3)) == ["this ."] * 3  # "this this this ." loop-cut
    inputs = captioner.build_inputs([f.image for f in frames(2)])
    prompt_length = int(inputs["input_ids"].shape[1])
    with torch.inference_mode():
        out = captioner._model.generate(**inputs,
                                        **captioner._generation_kwargs(prompt_length))
    # "this this this ." and the first token after it: 5 tokens of the 20 allowed.
    assert out.shape[1] - prompt_length == 5
