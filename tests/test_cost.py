"""Run cost and the native-video-input comparison: pure arithmetic, no media, no models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from summarize_video.errors import ConfigError
from summarize_video.options import DEFAULT_LLM_MODEL
from summarize_video.pipeline.cost import (
    DEFAULT_PRICES,
    Price,
    cost_block,
    find_price,
    format_cost_line,
    gemini_native_tokens,
    gpt4o_frame_tokens,
    gpt4o_native_tokens,
    gpt4o_resized,
    load_prices,
)

# (width, height) -> (billed size, tokens), each checked by hand against OpenAI's algorithm:
# fit within 2048x2048, shrink the shortest side to 768, 85 + 170 per 512-px tile.
GPT4O_CASES = [
    ((512, 512), (512, 512), 255),  # no resize (never upscaled): 1 tile
    ((1024, 1024), (768, 768), 765),  # the docs' example: 2x2 tiles
    ((1920, 1080), (1365, 768), 1105),  # 1920*768/1080 = 1365.3: 3x2 tiles
    ((4096, 2048), (1536, 768), 1105),  # -> 2048x1024 -> 1536x768: 3x2 tiles
    ((2048, 4096), (768, 1536), 1105),  # the docs' second example
    ((1280, 720), (1280, 720), 1105),  # shortest side under 768: 3x2 tiles as is
    ((128, 64), (128, 64), 255),  # measured one tile in high detail: no upscale
]


@pytest.mark.parametrize(("size", "billed", "tokens"), GPT4O_CASES)
def test_gpt4o_tiles(size: tuple[int, int], billed: tuple[int, int], tokens: int) -> None:
    assert gpt4o_resized(*size) == billed
    assert gpt4o_frame_tokens(*size) == tokens


def test_gpt4o_native_counts_one_frame_per_interval() -> None:
    assert gpt4o_native_tokens(600, 5, 1920, 1080) == 120 * 1105
    assert gpt4o_native_tokens(601, 5, 1920, 1080) == 121 * 1105
    assert gpt4o_native_tokens(0.5, 5, 512, 512) == 255  # at least one frame


def test_gemini_600_seconds() -> None:
    assert gemini_native_tokens(600, has_audio=True) == 600 * 258 + 600 * 32 == 174_000
    assert gemini_native_tokens(600, has_audio=False) == 154_800
    assert gemini_native_tokens(599.2, has_audio=False) == 154_800  # whole seconds, rounded up
    assert gemini_native_tokens(600, has_audio=True, has_video=False) == 19_200


def test_price_lookup() -> None:
    assert DEFAULT_LLM_MODEL in DEFAULT_PRICES
    p = DEFAULT_PRICES
    assert find_price("gpt-5-mini-2025-08-07", p) == p["gpt-5-mini"]
    assert find_price("gpt-5-2025-08-07", p) == p["gpt-5"]
    assert find_price("gpt-4o-mini-2024-07-18", p) == p["gpt-4o-mini"]
    assert find_price("GPT-4o", p) == p["gpt-4o"]
    assert find_price("openai/gpt-5-nano", p) == p["gpt-5-nano"]
    assert find_price("gemini-2.5-flash-lite-preview", p) == p["gemini-2.5-flash-lite"]
    assert find_price("qwen3:8b", p) == Price(0.0, 0.0)
    # A free local price never spreads to a longer, hosted name.
    assert find_price("qwen3-235b-a22b", p) is None
    assert find_price("openai/gpt-oss-120b", p) is None
    assert find_price("claude-sonnet-4", p) is None


def test_toml_override(tmp_path: Path) -> None:
    f = tmp_path / "prices.toml"
    f.write_text('[prices."gpt-5-mini"]\ninput_per_mtok = 0.2\n\n'
                 '[prices."my-model"]\ninput_per_mtok = 1\noutput_per_mtok = 3.5\n')
    prices = load_prices(f)
    assert prices["gpt-5-mini"] == Price(0.2, 2.0)  # output kept from the defaults
    assert prices["my-model"] == Price(1.0, 3.5)
    assert find_price("my-model-v2", prices) == Price(1.0, 3.5)
    assert prices["gpt-4o"] == DEFAULT_PRICES["gpt-4o"]
    assert load_prices(None) == DEFAULT_PRICES
    assert DEFAULT_PRICES["gpt-5-mini"] == Price(0.25, 2.0)  # defaults untouched


@pytest.mark.parametrize(("text", "names"), [
    ('[prices."x"]\ninput_per_mtok = "cheap"\noutput_per_mtok = 1\n',
     'prices."x".input_per_mtok'),
    ('[prices."x"]\ninput_per_mtok = 1\n', 'prices."x".output_per_mtok is missing'),
    ('[prices."gpt-4o"]\ninput_per_mtok = -1\n', 'prices."gpt-4o".input_per_mtok'),
    ('[prices."x"]\ninput = 1\n', 'prices."x".input'),
    ('[price."x"]\ninput_per_mtok = 1\n', "'price'"),
    ("[prices]\nx = 1\n", 'prices."x" must be a table'),
    ("[prices\n", "not valid TOML"),
])
def test_bad_price_file(tmp_path: Path, text: str, names: str) -> None:
    f = tmp_path / "prices.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_prices(f)
    message = err.value.one_line()
    assert "\n" not in message
    assert str(f) in message and names in message


def test_missing_price_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_prices(tmp_path / "nope.toml")


def block(**changes: object) -> dict:
    args: dict = dict(model="gpt-5-mini", prompt_tokens=2431, completion_tokens=312,
                      usage_estimated=False, duration_s=600.0, interval_s=5.0, width=1920,
                      height=1080, has_video=True, has_audio=True, prices=DEFAULT_PRICES)
    args.update(changes)
    return cost_block(**args)


def test_block_worked_example() -> None:
    b = block()
    json.dumps(b)
    assert b["price_per_mtok"] == {"input": 0.25, "output": 2.0}
    assert b["cost_usd"] == pytest.approx(2431 * 0.25e-6 + 312 * 2e-6)  # $0.00123
    assert b["tokens_per_minute"] == 243.1
    gemini, gpt4o = b["native"]["gemini"], b["native"]["gpt4o"]
    assert gemini["model"] == "gemini-2.5-flash" and gemini["tokens"] == 174_000
    assert gemini["cost_usd"] == pytest.approx(174_000 * 0.30e-6)
    assert gpt4o["model"] == "gpt-4o" and gpt4o["tokens"] == 132_600
    assert gpt4o["cost_usd"] == pytest.approx(132_600 * 2.50e-6)
    assert "audio not counted" in gpt4o["formula"]
    assert b["ratio"] == {"gemini": 71.58, "gpt4o": 54.55}
    assert b["cost_ratio"]["gemini"] == pytest.approx(174_000 * 0.30 / (2431 * 0.25), abs=0.01)
    assert b["cost_ratio"]["gpt4o"] == pytest.approx(132_600 * 2.50 / (2431 * 0.25), abs=0.01)
    line = format_cost_line(b)
    assert line == ("2,431 tokens in, 312 out, $0.0012 (gpt-5-mini) — native video input "
                    "would be 174,000 tokens with Gemini (72x) or 132,600 with GPT-4o "
                    "frames (55x)")


def test_unknown_model_has_no_cost_but_has_ratios() -> None:
    b = block(model="my-local-thing")
    assert b["price_per_mtok"] is None and b["cost_usd"] is None
    assert b["ratio"] == {"gemini": 71.58, "gpt4o": 54.55}
    assert b["cost_ratio"] == {"gemini": None, "gpt4o": None}
    assert "price unknown (my-local-thing)" in format_cost_line(b)


def test_free_local_model_costs_zero() -> None:
    b = block(model="qwen3:8b")
    assert b["cost_usd"] == 0.0
    assert b["ratio"]["gemini"] == 71.58
    assert b["cost_ratio"] == {"gemini": None, "gpt4o": None}  # no ratio against $0
    assert "$0 (qwen3:8b)" in format_cost_line(b)


def test_audio_only() -> None:
    b = block(has_video=False, width=None, height=None, prompt_tokens=1200)
    assert b["native"]["gemini"]["tokens"] == 19_200
    assert b["native"]["gpt4o"]["tokens"] == 0
    assert b["native"]["gpt4o"]["formula"].startswith("n/a")
    assert b["ratio"] == {"gemini": 16.0, "gpt4o": None}
    line = format_cost_line(b)
    assert "19,200 tokens with Gemini (16x)" in line and "GPT-4o frames n/a" in line


def test_video_without_audio() -> None:
    b = block(has_audio=False)
    assert b["native"]["gemini"]["tokens"] == 154_800
    assert "audio" not in b["native"]["gemini"]["formula"]
    assert b["native"]["gpt4o"]["tokens"] == 132_600


def test_unknown_duration_and_estimated_usage() -> None:
    b = block(duration_s=None, usage_estimated=True)
    assert b["native"]["gemini"]["tokens"] is None
    assert b["native"]["gpt4o"]["tokens"] is None
    assert b["tokens_per_minute"] is None and b["ratio"] == {"gemini": None, "gpt4o": None}
    assert format_cost_line(b) == "~2,431 tokens in, ~312 out, $0.0012 (gpt-5-mini)"


def test_no_llm_call_gives_no_ratio() -> None:
    b = block(prompt_tokens=0, completion_tokens=0)
    assert b["ratio"] == {"gemini": None, "gpt4o": None}
    assert "174,000 tokens with Gemini or 132,600 with GPT-4o frames" in format_cost_line(b)
