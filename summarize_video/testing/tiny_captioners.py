"""Tiny random-weight captioning models for tests, built offline and saved like real checkpoints.

Each builder writes a complete model folder (config, weights, tokenizer, processor, chat template
where the family needs one) with ``save_pretrained``, so that ``TransformersCaptioner(str(dest))``
loads it through exactly the code path a hub checkpoint takes. Weights are random (seeded), so
captions are gibberish; each folder is well under 1 MB and captions a frame in milliseconds.

Nothing here touches the network. torch, transformers and tokenizers are imported lazily.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# A small shared word list: random weights pick among these, so captions are readable gibberish.
_WORDS = (
    "a", "the", "of", "and", "in", "on", "with", "is", "are", "man", "woman", "dog", "cat", "car",
    "street", "room", "table", "people", "red", "blue", "green", "white", "black", "small",
    "large", "two", "three", "sitting", "standing", "walking", "near", "video", "screen", "text",
    "sky", "tree", "water", "house", "window", "light", "dark", "person", "holding", "looking",
)

# SmolVLM v1 (Idefics3) chat template, as shipped with HuggingFaceTB/SmolVLM-256M-Instruct.
IDEFICS3_CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)


def _seed(seed: int = 0) -> None:
    import torch

    torch.manual_seed(seed)


def _word_level_tokenizer(
    specials: list[str], words: tuple[str, ...] = (), **special_map: Any
) -> Any:
    """A WordLevel tokenizer: ``specials`` first (ids 0..n-1, in order), then words."""
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(specials)}
    for word in (*words, *_WORDS):
        vocab.setdefault(word, len(vocab))
    unk = special_map.get("unk_token", specials[0])
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=unk))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    # Register every special as an added token so that runs like "<image><image>" split cleanly.
    backend.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in specials])
    return PreTrainedTokenizerFast(tokenizer_object=backend, **special_map)


def build_tiny_blip(dest: Path) -> Path:
    """BLIP image captioning (``model_type == "blip"``): 32x32 input, 1-layer ViT and decoder."""
    import torch
    from transformers import (
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessorPil,
        BlipProcessor,
    )

    dest = Path(dest)
    _seed(0)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"]
    tokenizer = _word_level_tokenizer(
        specials,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        bos_token="[DEC]",
    )
    vocab_size = len(tokenizer)
    config = BlipConfig(
        text_config={
            "vocab_size": vocab_size,
            "hidden_size": 32,
            "encoder_hidden_size": 32,
            "intermediate_size": 64,
            "projection_dim": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "max_position_embeddings": 64,
            "bos_token_id": tokenizer.convert_tokens_to_ids("[DEC]"),
            "pad_token_id": tokenizer.pad_token_id,
            "sep_token_id": tokenizer.sep_token_id,
            "eos_token_id": tokenizer.sep_token_id,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "projection_dim": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=32,
        image_text_hidden_size=32,
    )
    model = BlipForConditionalGeneration(config).eval()
    with torch.no_grad():  # BLIP's vision init range is 1e-10: give the ViT some signal.
        for p in model.vision_model.parameters():
            if p.dim() > 1:
                p.normal_(0.0, 0.2)
    image_processor = BlipImageProcessorPil(size={"height": 32, "width": 32})
    processor = BlipProcessor(image_processor=image_processor, tokenizer=tokenizer)
    model.save_pretrained(dest)
    processor.save_pretrained(dest)
    return dest


def build_tiny_florence2(dest: Path) -> Path:
    """Native Florence-2 (``model_type == "florence2"``): 64x64 input -> 5 image tokens, BART."""
    import torch
    from transformers import (
        CLIPImageProcessorPil,
        Florence2Config,
        Florence2ForConditionalGeneration,
        Florence2Processor,
    )

    dest = Path(dest)
    _seed(0)
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<image>"]
    tokenizer = _word_level_tokenizer(
        specials,
        bos_token="<s>",
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        extra_special_tokens={"image_token": "<image>"},
    )
    image_token_id = tokenizer.convert_tokens_to_ids("<image>")
    text_dim = 32
    config = Florence2Config(
        text_config={
            "model_type": "bart",
            "vocab_size": len(tokenizer),
            "d_model": text_dim,
            "encoder_layers": 1,
            "decoder_layers": 1,
            "encoder_attention_heads": 2,
            "decoder_attention_heads": 2,
            "encoder_ffn_dim": 64,
            "decoder_ffn_dim": 64,
            "max_position_embeddings": 128,
            "bos_token_id": 0,
            "pad_token_id": 1,
            "eos_token_id": 2,
            "decoder_start_token_id": 2,
            "forced_eos_token_id": 2,
        },
        vision_config={
            "depths": [1, 1, 1, 1],
            "embed_dim": [8, 16, 16, 32],
            "num_heads": [1, 1, 2, 2],
            "num_groups": [1, 1, 2, 2],
            "window_size": 2,
            "projection_dim": text_dim,
            "drop_path_rate": 0.0,
        },
        image_token_id=image_token_id,
    )
    model = Florence2ForConditionalGeneration(config).eval()
    # Random weights emit </s> at once (the decoder starts from </s>, whose embedding is tied to
    # the LM head). Zero that row so its logit is 0 and some word wins: non-empty gibberish.
    # The loading path stays the real one.
    with torch.no_grad():
        model.get_input_embeddings().weight[2].zero_()
    model.generation_config.num_beams = 1
    # 64x64 input -> 2x2 grid after the /32 DaViT stages -> 4 spatial + 1 pooled token.
    image_processor = CLIPImageProcessorPil(
        size={"height": 64, "width": 64},
        crop_size={"height": 64, "width": 64},
        do_center_crop=False,
    )
    image_processor.image_seq_length = 5
    processor = Florence2Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        post_processor_config={"pure_text": {}},
    )
    model.save_pretrained(dest)
    processor.save_pretrained(dest)
    return dest


def build_tiny_idefics3(dest: Path) -> Path:
    """Idefics3 = SmolVLM v1 (``model_type == "idefics3"``): a chat VLM with a Llama decoder."""
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessorPil,
        Idefics3Processor,
    )

    dest = Path(dest)
    _seed(0)
    specials = [
        "<unk>",
        "<|im_start|>",
        "<end_of_utterance>",
        "<pad>",
        "<image>",
        "<fake_token_around_image>",
        "<global-img>",
    ]
    tokenizer = _word_level_tokenizer(
        specials,
        ("User", "Assistant", ":", "Describe", "this", "image", "one", "sentence", "."),
        unk_token="<unk>",
        bos_token="<|im_start|>",
        eos_token="<end_of_utterance>",
        pad_token="<pad>",
    )
    image_size, patch_size, scale_factor = 32, 8, 2
    image_seq_len = (image_size // patch_size) ** 2 // scale_factor**2  # 4 tokens per image
    eos_id = tokenizer.eos_token_id
    config = Idefics3Config(
        text_config={
            "model_type": "llama",
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 256,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": eos_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": image_size,
            "patch_size": patch_size,
        },
        scale_factor=scale_factor,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        pad_token_id=tokenizer.pad_token_id,
    )
    model = Idefics3ForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = eos_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    image_processor = Idefics3ImageProcessorPil(
        size={"longest_edge": image_size * 2},
        max_image_size={"longest_edge": image_size},
    )
    processor = Idefics3Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        image_seq_len=image_seq_len,
        chat_template=IDEFICS3_CHAT_TEMPLATE,
    )
    model.save_pretrained(dest)
    processor.save_pretrained(dest)
    return dest


def build_all(dest_root: Path) -> dict[str, Path]:
    """Build the three tiny models into ``blip/``, ``florence2/`` and ``smolvlm/`` under a root."""
    root = Path(dest_root)
    return {
        "blip": build_tiny_blip(root / "blip"),
        "florence2": build_tiny_florence2(root / "florence2"),
        "smolvlm": build_tiny_idefics3(root / "smolvlm"),
    }
