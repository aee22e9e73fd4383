"""A tiny random-weight chat LLM for tests, saved like a real checkpoint (about 80 kB).

``TransformersReasoner(str(build_tiny_llm(dest)))`` loads it through exactly the code path a
hub checkpoint takes: ``AutoTokenizer`` + ``AutoModelForCausalLM``, the saved chat template,
``generation_config.json``. Answers are gibberish from a small word list.

The architecture is Llama: for ``model_type`` "llama" transformers 5 keeps the saved
``tokenizers`` WordLevel tokenizer as it is, where "qwen2" would rebuild it as a byte-level
BPE ``Qwen2Tokenizer`` and garble every word.

``only``: suppress every other token at generation (through the saved generation config), so
the model emits that token again and again, never EOS; ``"<think>"`` makes a reasoning model
that never gets to its answer, the EOS token one that answers nothing at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# ChatML, as Qwen's instruct models use it (without their default system prompt).
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIALS = ("<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>")
# Added but not special, as in Qwen3 and DeepSeek-R1: decoding keeps them.
THINK_TOKENS = ("<think>", "</think>")
WORDS = (
    "system", "user", "assistant", "developer", "the", "a", "video", "shows", "cat", "dog",
    "sofa", "speaker", "says", "hello", "summary", "key", "moments", "at", "then", "and", "of",
    "people", "talk", "about", "music", "screen", "slide", "text", "outdoors", "room", ".", ",",
    ":", "[", "]", "00", "05", "07", "caption", "speech",
)


def _tokenizer(chat_template: str) -> Any:
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab: dict[str, int] = {}
    for token in (*SPECIALS, *THINK_TOKENS, *WORDS):
        vocab.setdefault(token, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.decoder = decoders.WordPiece(prefix="##", cleanup=True)  # joins words with spaces
    backend.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in SPECIALS])
    backend.add_tokens([AddedToken(t, normalized=False, special=False) for t in THINK_TOKENS])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        pad_token="<|endoftext|>",
        eos_token="<|im_end|>",
    )
    tokenizer.chat_template = chat_template
    return tokenizer


def build_tiny_llm(dest: Path, *, only: str | None = None, context: int = 512,
                   chat_template: str = CHATML_TEMPLATE, seed: int = 0) -> Path:
    """Write a tiny Llama chat model (config, weights, tokenizer, chat template) to ``dest``.

    ``context``: ``max_position_embeddings``, the longest prompt plus answer it takes.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    dest = Path(dest)
    torch.manual_seed(seed)
    tokenizer = _tokenizer(chat_template)
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=context,
        bos_token_id=None,
        eos_token_id=eos,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config).eval()
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    if only is not None:
        keep = tokenizer.convert_tokens_to_ids(only)
        if keep == tokenizer.unk_token_id and only != "<unk>":
            raise ValueError(f"{only!r} is not in the tiny vocabulary")
        model.generation_config.suppress_tokens = [
            i for i in range(len(tokenizer)) if i != keep
        ]
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    return dest
