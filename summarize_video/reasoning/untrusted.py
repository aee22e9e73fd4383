"""Fencing untrusted text (captions, speech, text read on screen, partial summaries) before it
reaches the LLM.

Anyone who can put words on screen or in the audio can write "ignore your instructions" into the
timeline (on a slide, OCR copies it into a ``read:`` line word for word). The timeline is
therefore sent between two delimiter lines that carry a random nonce drawn per run,
``<<<TIMELINE-{nonce}`` and ``TIMELINE-{nonce}>>>``, and the system prompt says that what lies
between them is data, never instructions. The content cannot close the fence early: the nonce
and anything that looks like a delimiter are removed from it first, as are invisible and
bidirectional control characters (which can hide text from a human reviewer or smuggle a fake
delimiter past a plain substring check), and chat-template control tokens (``<|im_start|>``,
``[INST]``, ``</s>``...) lose their brackets.

This lowers the risk; it is not a guarantee. A model may still follow injected text.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Iterable

OPEN = "<<<TIMELINE-{nonce}"
CLOSE = "TIMELINE-{nonce}>>>"

# Always removed, whatever their category: zero-width and direction marks, bidi embeddings,
# overrides and isolates, the BOM, tag characters (invisible ASCII look-alikes) and variation
# selectors (used to hide bytes inside an innocent-looking character).
_ALWAYS = re.compile(
    "[\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\ufe00-\ufe0f"
    "\U000e0000-\U000e007f\U000e0100-\U000e01ef]"
)
# Cc (controls), Cf (format), Cs (lone surrogates: they cannot even be sent as UTF-8).
_REMOVED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})
_KEPT = frozenset("\n\t")
_NEWLINES = re.compile("\r\n?|[\u2028\u2029\x85]")
# Delimiter look-alikes inside the content: runs of angle brackets and TIMELINE-<code>.
_ANGLES_OPEN = re.compile("<{3,}")
_ANGLES_CLOSE = re.compile(">{3,}")
_TAG = re.compile(r"TIMELINE-[0-9A-Za-z]*", re.IGNORECASE)
# Chat-template control tokens of the common model families (ChatML, Llama 2 and 3, Mistral,
# Gemma, Phi, DeepSeek, SmolVLM...): in the prompt text they would become real control tokens
# on many servers. Their brackets are dropped (``<|im_start|>`` becomes ``im_start``).
_MARKERS = re.compile(
    r"<\s*[|\uff5c]\s*([^<>\n]{0,64}?)\s*[|\uff5c]\s*>"
    r"|<\s*/?\s*(s|bos|eos|pad|unk|start_of_turn|end_of_turn|end_of_utterance|image"
    r"|fake_token_around_image|global-img|row_\d+_col_\d+|think|tool_call|tool_response"
    r"|im_start|im_end|endoftext)\s*>"
    r"|<</?(SYS)>>|\[/?(INST|SYS|SYSTEM_PROMPT|AVAILABLE_TOOLS|TOOL_CALLS|TOOL_RESULTS)\]",
    re.IGNORECASE,
)


def neutralise_markers(text: str, specials: Iterable[str] = ()) -> str:
    """``text`` with chat-template control tokens made plain words: the common families'
    markers, and each of ``specials`` (a tokenizer's own special tokens). Repeated until none
    is left, as removing one can join its neighbours into another."""
    specials = sorted({t for t in specials if t and len(t) > 1}, key=len, reverse=True)
    previous = None
    while previous != text:
        previous = text
        text = _MARKERS.sub(lambda m: next((g for g in m.groups() if g), "").strip("|"), text)
        for token in specials:
            text = text.replace(token, token.strip("<>|[]/ \uff5c") or " ")
    return text


def new_nonce() -> str:
    """12 random hex characters (48 bits) from ``secrets``: not guessable by the video."""
    return secrets.token_hex(6)


def clean_text(text: str) -> str:
    """``text`` without invisible, control and bidirectional characters (``\\n``, ``\\t`` kept).

    Carriage returns and Unicode line separators become ``\\n``.
    """
    text = _ALWAYS.sub("", _NEWLINES.sub("\n", text))
    if text.isascii():
        return "".join(ch for ch in text if (ch >= " " and ch != "\x7f") or ch in _KEPT)
    return "".join(
        ch for ch in text
        if ch in _KEPT or unicodedata.category(ch) not in _REMOVED_CATEGORIES
    )


def strip_delimiters(text: str, nonce: str) -> str:
    """``text`` with the nonce and delimiter look-alikes removed (repeated until none is left).

    Removing a nonce can join its neighbours into a new one (``ab[abcd]cd``), hence the loop.
    """
    previous = None
    while previous != text:
        previous = text
        if nonce:
            text = re.sub(re.escape(nonce), "", text, flags=re.IGNORECASE)
        text = _TAG.sub("timeline", text)
        text = _ANGLES_OPEN.sub("<<", text)
        text = _ANGLES_CLOSE.sub(">>", text)
        text = neutralise_markers(text)
    return text


def fence(text: str, nonce: str) -> str:
    """Cleaned ``text`` between the two nonce delimiter lines."""
    if not nonce or not re.fullmatch(r"[0-9a-f]{8,64}", nonce):
        raise ValueError("nonce must be 8 to 64 lowercase hex characters (use new_nonce())")
    body = strip_delimiters(clean_text(text), nonce)
    return f"{OPEN.format(nonce=nonce)}\n{body}\n{CLOSE.format(nonce=nonce)}"
