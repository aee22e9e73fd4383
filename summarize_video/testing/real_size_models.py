"""A random-weight SmolVLM-256M-Instruct with the real dimensions, for benchmarks: compute does
not depend on the weights, so its speed is a user's (built offline, loaded through the same
``from_pretrained`` code as the real model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def word_tokenizer(size: int) -> Any:
    """A WordLevel tokenizer of exactly ``size`` entries: SmolVLM's specials, then words."""
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<|im_start|>", "<end_of_utterance>", "<pad>", "<image>",
                "<fake_token_around_image>", "<global-img>"]
    words = ["User", "Assistant", ":", "Describe", "this", "image", "one", "sentence", "."]
    names = [*specials, *words]
    names += [f"w{i}" for i in range(size - len(names))]
    backend = Tokenizer(models.WordLevel(vocab={n: i for i, n in enumerate(names)},
                                         unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.add_special_tokens([AddedToken(t, normalized=False, special=True)
                                for t in specials])
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>",
                                   bos_token="<|im_start|>", eos_token="<end_of_utterance>",
                                   pad_token="<pad>")


def build_real_size_smolvlm(dest: Path) -> Path:
    """A random SmolVLM-256M-Instruct: SigLIP 768x12 at 512 px, patch 16, scale factor 4 (64
    image tokens); SmolLM2-135M text: 576 wide, 30 layers, 9/3 heads, vocab 49280."""
    import torch
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessorPil,
        Idefics3Processor,
    )

    from .tiny_captioners import IDEFICS3_CHAT_TEMPLATE

    if (dest / "config.json").is_file():
        return dest
    torch.manual_seed(0)
    vocab = 49280
    tokenizer = word_tokenizer(vocab)
    config = Idefics3Config(
        text_config={"model_type": "llama", "vocab_size": vocab, "hidden_size": 576,
                     "intermediate_size": 1536, "num_hidden_layers": 30,
                     "num_attention_heads": 9, "num_key_value_heads": 3,
                     "max_position_embeddings": 8192, "rope_theta": 100000.0,
                     "rms_norm_eps": 1e-5, "tie_word_embeddings": True,
                     "bos_token_id": tokenizer.bos_token_id,
                     "eos_token_id": tokenizer.eos_token_id,
                     "pad_token_id": tokenizer.pad_token_id},
        vision_config={"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
                       "num_attention_heads": 12, "image_size": 512, "patch_size": 16},
        scale_factor=4, image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        pad_token_id=tokenizer.pad_token_id)
    model = Idefics3ForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    processor = Idefics3Processor(
        image_processor=Idefics3ImageProcessorPil(size={"longest_edge": 2048},
                                                  max_image_size={"longest_edge": 512}),
        tokenizer=tokenizer, image_seq_len=64, chat_template=IDEFICS3_CHAT_TEMPLATE)
    tmp = dest.with_name(dest.name + ".tmp")
    model.save_pretrained(tmp)
    processor.save_pretrained(tmp)
    tmp.rename(dest)
    return dest
