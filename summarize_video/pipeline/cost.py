"""What a run cost, and the input tokens of the same video given natively to Gemini (frames at
1 fps plus audio) or to GPT-4o (a high-detail frame per interval), by the published formulas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..options import Options


@dataclass(frozen=True)
class Price:
    # Currency units per million tokens.
    input_per_mtok: float
    output_per_mtok: float
    # Only USD costs are computed; a price in another currency counts as unknown.
    currency: str = "USD"


# List prices (standard tier, no batch or cache discounts) at the time of writing, late 2025,
# from the OpenAI API pricing page and the Gemini Developer API pricing page. They change:
# override or add models in a TOML file passed to ``load_prices``:
#     [prices."gpt-5-mini"]
#     input_per_mtok = 0.25
#     output_per_mtok = 2.0
# Names are matched exactly, then by longest prefix ("gpt-5-mini-2025-08-07" -> "gpt-5-mini"),
# so entries such as "gpt-5-pro" and "gemini-2.5-flash-lite" are listed to keep a dearer or
# cheaper sibling from taking the shorter name's price.
DEFAULT_PRICES: dict[str, Price] = {
    "gpt-5": Price(1.25, 10.0),
    "gpt-5-mini": Price(0.25, 2.0),
    "gpt-5-nano": Price(0.05, 0.40),
    "gpt-5-pro": Price(15.0, 120.0),
    "gpt-4.1": Price(2.0, 8.0),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-4o": Price(2.50, 10.0),
    "gpt-4o-2024-05-13": Price(5.0, 15.0),
    "gpt-4o-mini": Price(0.15, 0.60),
    # Gemini 2.5 Flash: text/image/video input; audio input is listed at $1.00 (see below).
    "gemini-2.5-flash": Price(0.30, 2.50),
    "gemini-2.5-flash-lite": Price(0.10, 0.40),
    # Open models as Ollama names them, run locally: free. A free price matches only the exact
    # name or an Ollama tag ("qwen3:8b"), never a longer hosted name ("qwen3-235b-a22b").
    **{name: Price(0.0, 0.0) for name in (
        "llama3", "llama3.1", "llama3.2", "llama3.3", "qwen2.5", "qwen3", "gemma3", "mistral",
        "mistral-nemo", "phi4", "gpt-oss", "deepseek-r1")},
}

# The models whose input prices value the native comparison.
GEMINI_NATIVE_MODEL = "gemini-2.5-flash"
GPT4O_NATIVE_MODEL = "gpt-4o"

# Gemini API docs, "Video understanding" (technical details) and "Understand and count tokens":
# video is sampled at 1 frame per second, each frame is 258 tokens at the default media
# resolution, and audio is 32 tokens per second (about 300 tokens per second of video with
# metadata, which is not counted here). The pricing page lists audio input of Gemini 2.5 Flash
# at $1.00 per million against $0.30 for video; all tokens are priced at the video rate here,
# so the Gemini cost is a lower bound.
GEMINI_TOKENS_PER_FRAME = 258
GEMINI_AUDIO_TOKENS_PER_S = 32

# OpenAI API docs, "Images and vision" (calculating costs), GPT-4o with detail "high": the
# image is scaled to fit within 2048x2048, then so its shortest side is 768 px; each 512-px
# tile costs 170 tokens, plus 85 per image. The resizes only shrink: the docs' examples scale
# down, and a 128x64 image is billed one tile in high detail, not the six an upscale to
# 1536x768 would need.
GPT4O_BASE_TOKENS = 85
GPT4O_TILE_TOKENS = 170
GPT4O_TILE_PX = 512
GPT4O_FIT_PX = 2048
GPT4O_SHORT_SIDE_PX = 768


def load_prices(path: Path | None) -> dict[str, Price]:
    """The defaults updated from a TOML file of ``[prices."model"]`` tables (a model already
    listed may give only one of its two prices); the file may be the config file."""
    prices = dict(DEFAULT_PRICES)
    if path is None:
        return prices
    path = Path(path)

    def bad(message: str, example: bool = True) -> ConfigError:
        return ConfigError(message, path=str(path), stage="prices", hint='expected [prices."model"]'
                           " input_per_mtok = 0.25 output_per_mtok = 2.0" if example else None)

    try:  # standard library from Python 3.11; imported here so the module loads on 3.10
        import tomllib
    except ImportError:  # pragma: no cover
        raise bad("reading a price file needs Python 3.11 or later", False) from None
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise bad(f"cannot read the price file: {exc.strerror or exc}", False) from None
    except tomllib.TOMLDecodeError as exc:
        raise bad(f"not valid TOML: {exc}") from None
    # A config file may hold the table beside option keys; those are the config loader's.
    extra = sorted(set(data) - {"prices"} - {f.name for f in fields(Options)})
    if extra:
        raise bad(f"unknown key {extra[0]!r}")
    table = data.get("prices", {})
    if not isinstance(table, dict):
        raise bad("'prices' must be a table")
    for model, entry in table.items():
        key = f'prices."{model}"'
        if not isinstance(entry, dict):
            raise bad(f"{key} must be a table")
        unknown = sorted(set(entry) - {"input_per_mtok", "output_per_mtok", "currency"})
        if unknown:
            raise bad(f"unknown key {key}.{unknown[0]}")
        values: dict[str, float] = {}
        for name in ("input_per_mtok", "output_per_mtok"):
            if name in entry:
                value = entry[name]
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                        math.isfinite(value) and value >= 0):
                    raise bad(f"{key}.{name} must be a number >= 0, got {value!r}")
                values[name] = float(value)
            elif model in prices:
                values[name] = getattr(prices[model], name)
            else:
                raise bad(f"{key}.{name} is missing")
        currency = entry.get("currency", "USD")
        if currency != "USD":
            raise bad(f"{key}.currency: only USD is supported, got {currency!r}")
        prices[model] = Price(values["input_per_mtok"], values["output_per_mtok"])
    return prices


def find_price(model: str, prices: dict[str, Price]) -> Price | None:
    """The exact name, else the longest listed name it starts with, else None (unknown).

    A provider prefix ("openai/gpt-5-mini", "models/gemini-2.5-flash") is tried without it too.
    A free (local) price extends only to ``name:tag``.
    """
    folded = {k.casefold(): v for k, v in prices.items()}
    names = [model.strip().casefold()]
    names += [names[0].rsplit("/", 1)[1]] if "/" in names[0] else []
    for name in names:
        if name in folded:
            return folded[name]
    for name in names:
        matches = [k for k, p in folded.items() if name.startswith(k) and (
            p.input_per_mtok or p.output_per_mtok or name[len(k)] == ":")]
        if matches:
            return folded[max(matches, key=len)]
    return None


def gemini_native_tokens(duration_s: float, has_audio: bool, *, has_video: bool = True) -> int:
    """Input tokens of the file given to Gemini: 258 per second of video, 32 per second of audio."""
    seconds = math.ceil(duration_s)
    return (seconds * GEMINI_TOKENS_PER_FRAME if has_video else 0) + (
        seconds * GEMINI_AUDIO_TOKENS_PER_S if has_audio else 0)


def gpt4o_resized(width: int, height: int) -> tuple[int, int]:
    """The size GPT-4o bills a high-detail image at (see the constants above)."""
    w, h = float(width), float(height)
    scale = min(1.0, GPT4O_FIT_PX / max(w, h))
    w, h = w * scale, h * scale
    scale = min(1.0, GPT4O_SHORT_SIDE_PX / min(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


def gpt4o_frame_tokens(width: int, height: int) -> int:
    """Input tokens of one high-detail image for GPT-4o: 85 + 170 per 512-px tile."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    w, h = gpt4o_resized(width, height)
    tiles = math.ceil(w / GPT4O_TILE_PX) * math.ceil(h / GPT4O_TILE_PX)
    return GPT4O_BASE_TOKENS + GPT4O_TILE_TOKENS * tiles


def gpt4o_frame_count(duration_s: float, interval_s: float) -> int:
    return max(1, math.ceil(duration_s / interval_s))


def gpt4o_native_tokens(duration_s: float, interval_s: float, width: int, height: int) -> int:
    """Input tokens of one high-detail frame per interval given to GPT-4o (audio not counted)."""
    return gpt4o_frame_count(duration_s, interval_s) * gpt4o_frame_tokens(width, height)


def _usd(tokens: int, per_mtok: float | None) -> float | None:
    return None if per_mtok is None else tokens * per_mtok / 1_000_000


def _input_rate(price: Price | None) -> float | None:
    return price.input_per_mtok if price is not None and price.currency == "USD" else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 2)


def cost_block(*, model: str, prompt_tokens: int, completion_tokens: int, usage_estimated: bool,
               duration_s: float | None, interval_s: float, width: int | None,
               height: int | None, has_video: bool, has_audio: bool,
               prices: dict[str, Price]) -> dict[str, Any]:
    """The run's cost and the native-input comparison, ready for JSON.

    ``ratio`` compares input tokens (meaningful for a free local model too); ``cost_ratio``
    compares input costs (native input cost / our prompt's cost), where both prices are known
    and ours is not zero. Unknown prices give None, never 0.
    """
    price = find_price(model, prices)
    usd = price if price is not None and price.currency == "USD" else None
    seconds = duration_s if duration_s is not None and duration_s > 0 else None

    g_tokens: int | None = None
    if seconds is None:
        g_formula = "n/a: duration unknown"
    elif not (has_video or has_audio):
        g_formula = "n/a: no video or audio stream"
    else:
        g_tokens = gemini_native_tokens(seconds, has_audio, has_video=has_video)
        s = math.ceil(seconds)
        parts = [f"{s} s x {GEMINI_TOKENS_PER_FRAME} (1 frame/s)"] if has_video else []
        parts += [f"{s} s x {GEMINI_AUDIO_TOKENS_PER_S} (audio)"] if has_audio else []
        g_formula = " + ".join(parts) + ("" if has_video else "; no video stream")

    o_tokens: int | None = None
    if not has_video:
        o_tokens, o_formula = 0, "n/a: no video stream"
    elif seconds is None or not width or not height:
        o_formula = "n/a: duration unknown" if seconds is None else "n/a: frame size unknown"
    else:
        n, per = gpt4o_frame_count(seconds, interval_s), gpt4o_frame_tokens(width, height)
        rw, rh = gpt4o_resized(width, height)
        o_tokens = n * per
        o_formula = (f"{n} frames (1 per {interval_s:g} s) x {per} ({width}x{height} -> "
                     f"{rw}x{rh}, high detail); audio not counted")

    g_rate = _input_rate(find_price(GEMINI_NATIVE_MODEL, prices))
    o_rate = _input_rate(find_price(GPT4O_NATIVE_MODEL, prices))
    g_cost = None if g_tokens is None else _usd(g_tokens, g_rate)
    o_cost = None if o_tokens is None else _usd(o_tokens, o_rate)
    our_input = _usd(prompt_tokens, _input_rate(usd))
    return {
        "model": model,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "estimated": usage_estimated,
        "price_per_mtok": None if usd is None
        else {"input": usd.input_per_mtok, "output": usd.output_per_mtok},
        "cost_usd": None if usd is None else (prompt_tokens * usd.input_per_mtok
                                              + completion_tokens * usd.output_per_mtok) / 1e6,
        "tokens_per_minute": None if seconds is None else round(prompt_tokens * 60 / seconds, 1),
        "native": {
            "gemini": {"model": GEMINI_NATIVE_MODEL, "tokens": g_tokens, "cost_usd": g_cost,
                       "formula": g_formula},
            "gpt4o": {"model": GPT4O_NATIVE_MODEL, "tokens": o_tokens, "cost_usd": o_cost,
                      "formula": o_formula},
        },
        "ratio": {"gemini": _ratio(g_tokens, prompt_tokens),
                  "gpt4o": _ratio(o_tokens or None, prompt_tokens)},
        "cost_ratio": {"gemini": _ratio(g_cost if g_tokens else None, our_input),
                       "gpt4o": _ratio(o_cost if o_tokens else None, our_input)},
    }


def _money(usd: float) -> str:
    if usd == 0:
        return "$0"
    if usd < 0.0001:
        return "<$0.0001"
    return f"${usd:.4f}" if usd < 1 else f"${usd:,.2f}"


def _times(ratio: float | None) -> str:
    return "" if ratio is None else f" ({ratio:.0f}x)" if ratio >= 10 else f" ({ratio:.1f}x)"


def format_cost_line(block: dict[str, Any]) -> str:
    """One line for the end-of-run message: our tokens and cost, and the native estimates."""
    approx = "~" if block["estimated"] else ""
    cost = block["cost_usd"]
    money = _money(cost) if cost is not None else "price unknown"
    line = (f"{approx}{block['prompt_tokens']:,} tokens in, {approx}"
            f"{block['completion_tokens']:,} out, {money} ({block['model']})")
    gemini, gpt4o = block["native"]["gemini"], block["native"]["gpt4o"]
    ratio = block["ratio"]
    if gemini["tokens"] is None and not gpt4o["tokens"]:
        return line
    if not gpt4o["tokens"]:
        tail = "; GPT-4o frames n/a (no video)" if gpt4o["tokens"] == 0 else ""
        return (f"{line} — native input would be {gemini['tokens']:,} tokens with Gemini"
                f"{_times(ratio['gemini'])}{tail}")
    return (f"{line} — native video input would be {gemini['tokens']:,} tokens with Gemini"
            f"{_times(ratio['gemini'])} or {gpt4o['tokens']:,} with GPT-4o frames"
            f"{_times(ratio['gpt4o'])}")
