"""Timeline text and strict prompt filling."""

from __future__ import annotations

from pathlib import Path

import pytest

from summarize_video import prompting as prompts
from summarize_video.errors import PromptError
from summarize_video.timeline import Caption, build_timeline, format_timestamp
from summarize_video.transcription.base import Segment


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "00:00"), (5.999, "00:05"), (65, "01:05"), (3599.5, "59:59"), (3600, "1:00:00"),
     (3 * 3600 + 61, "3:01:01"), (-1, "00:00")],
)
def test_format_timestamp(seconds: float, text: str) -> None:
    assert format_timestamp(seconds) == text


def test_timeline_merges_in_time_order_picture_first() -> None:
    captions = [Caption(0.0, "a title card"), Caption(5.0, "a man\n at a desk"),
                Caption(10.0, "  ")]
    speech = [Segment(2.5, 4.0, "Hello there."),
              Segment(5.0, 7.0, "Welcome back."),
              Segment(3700, 3702, "Late words.")]
    assert build_timeline(captions, speech).splitlines() == [
        "00:00 see: a title card",
        "00:02 say: Hello there.",
        "00:05 see: a man at a desk",
        "00:05 say: Welcome back.",
        "1:01:40 say: Late words.",
    ]


def test_shipped_prompts_load_and_fill() -> None:
    text = prompts.render_prompt(
        prompts.SUMMARY,
        {"title": "t.mp4", "duration": "01:00", "notes": "", "focus": "", "timeline": "X"},
    )
    assert "t.mp4" in text and "X" in text and "$" not in text
    assert prompts.load_prompt(prompts.SYSTEM).strip()
    assert prompts.load_prompt(prompts.CAPTION).strip()
    assert len(prompts.prompt_hash(prompts.SYSTEM)) == 16


def test_fill_is_strict() -> None:
    with pytest.raises(PromptError, match=r"\$timeline"):
        prompts.fill("Look: $timeline and $title", {"title": "x"}, name="summary.md")
    with pytest.raises(PromptError):
        prompts.fill("costs $5", {}, name="p")
    assert prompts.fill("costs $$5 for $x", {"x": "y"}) == "costs $5 for y"


def test_user_prompts_dir_overrides_per_file(tmp_path: Path) -> None:
    (tmp_path / "system.md").write_text("My own system prompt.", encoding="utf-8")
    assert prompts.load_prompt(prompts.SYSTEM, tmp_path) == "My own system prompt."
    # Files the user did not provide fall back to the shipped ones.
    assert prompts.load_prompt(prompts.SUMMARY, tmp_path) == prompts.load_prompt(prompts.SUMMARY)
    with pytest.raises(PromptError, match="not found"):
        prompts.load_prompt(prompts.SYSTEM, tmp_path / "missing")
    with pytest.raises(PromptError, match="no prompt named"):
        prompts.load_prompt("nonexistent.md", tmp_path)


def test_identical_consecutive_captions_become_one_range() -> None:
    captions = [Caption(0.0, "a slide", 5.0), Caption(5.0, "a  slide", 10.0),
                Caption(10.0, "a slide", 15.0), Caption(15.0, "a chart", 20.0),
                Caption(20.0, "a slide", 25.0)]
    speech = [Segment(7.0, 8.0, "words")]
    assert build_timeline(captions, speech).splitlines() == [
        "00:00-00:15 see: a slide",
        "00:07 say: words",
        "00:15 see: a chart",
        "00:20 see: a slide",
    ]
