"""Pure helpers around captioning: speech context, repetition guards, CPU threads, options."""

from __future__ import annotations

from pathlib import Path

import pytest

from summarize_video.captioning.guards import NewTokensNoRepeatNGram, cut_repetition
from summarize_video.captioning.speech_context import (
    check_context_template,
    speech_context,
    trim_words,
)
from summarize_video.captioning.transformers import TransformersCaptioner, clean_caption
from summarize_video.errors import ConfigError, PromptError
from summarize_video.options import CAPTION_CONTEXT_MODES, Options

REPO = Path(__file__).resolve().parents[1]
CONTEXT_PROMPT = (REPO / "prompts" / "caption_context.txt").read_text(encoding="utf-8")


def test_speech_context_window_order_and_trim():
    from summarize_video.transcription.base import Segment

    segments = [
        Segment(9.0, 12.0, "  and this is the engine. "),
        Segment(0.0, 2.0, "Welcome back."),
        Segment(2.0, 5.9, "Today we look at the  red car,"),
        Segment(6.0, 6.5, "Today we look at the red car,"),  # whisper repeating itself
        Segment(6.5, 7.0, "   "),
        Segment(20.0, 21.0, "Far away."),
    ]
    # [3, 11]: segments ending at/after 3 and starting at/before 11, in time order.
    assert speech_context(7.0, segments) == "Today we look at the red car, and this is the engine."
    assert speech_context(7.0, segments, window=0.6) == "Today we look at the red car,"
    assert speech_context(7.0, segments, window=0.1) == ""  # only the blank segment
    welcome = "Welcome back. Today we look at the red car,"
    assert speech_context(1.9, segments, window=0.1) == welcome
    assert speech_context(15.0, segments, window=1.0) == ""
    assert speech_context(16.0, segments) == "and this is the engine. Far away."  # edges count
    assert speech_context(7.0, []) == ""
    trimmed = speech_context(7.0, segments, max_chars=20)
    assert trimmed == "Today we look at the" and len(trimmed) <= 20


def test_trim_words():
    assert trim_words("one two three", 13) == "one two three"
    assert trim_words("one two three", 7) == "one two"  # a space right after the limit
    assert trim_words("one two three", 6) == "one"
    assert trim_words("abcdefghij klm", 4) == "abcd"  # one long word: cut hard
    with pytest.raises(ValueError):
        speech_context(0.0, [], max_chars=0)
    with pytest.raises(ValueError):
        speech_context(0.0, [], window=-1.0)


def test_context_template_checked():
    assert check_context_template(CONTEXT_PROMPT) == CONTEXT_PROMPT
    assert "$speech" in CONTEXT_PROMPT
    with pytest.raises(PromptError, match=r"\$speech"):
        TransformersCaptioner("x/y", context_prompt="Describe the frame.")
    with pytest.raises(PromptError, match=r"\$place"):
        TransformersCaptioner("x/y", context_prompt="In $place someone says $speech.")
    with pytest.raises(PromptError):
        TransformersCaptioner("x/y", context_prompt="Costs $5: $speech")
    TransformersCaptioner("x/y", context_prompt="Costs $$5: $speech")


def test_new_tokens_no_repeat_ngram():
    import torch

    guard = NewTokensNoRepeatNGram(3, prompt_length=4)
    # The prompt 7 8 9 7 holds the trigram 7 8 9; generated so far: 7 8 -> 9 stays allowed.
    scores = guard(torch.tensor([[7, 8, 9, 7, 7, 8]]), torch.zeros(1, 12))
    assert not torch.isinf(scores).any()
    # Generated 1 2 3 1 2 -> 3 would repeat 1 2 3; generated 1 2 1 2 1 -> 2 would repeat 1 2 1.
    ids = torch.tensor([[9, 9, 9, 9, 1, 2, 3, 1, 2],
                        [9, 9, 9, 9, 1, 2, 1, 2, 1]])
    scores = guard(ids, torch.zeros(2, 12))
    assert torch.isinf(scores[0]).nonzero().flatten().tolist() == [3]  # 1 2 -> 3 again
    assert torch.isinf(scores[1]).nonzero().flatten().tolist() == [2]  # 2 1 -> 2 again
    assert guard.banned([4, 4]) == set() and guard.banned([4, 4, 4]) == {4}


def test_clean_caption():
    assert clean_caption("  a \n dog\t runs ") == "a dog runs"
    assert clean_caption(None) == ""
    assert clean_caption("   ") == ""
    assert clean_caption("a man a man a man a man") == "a man"


@pytest.mark.parametrize(("text", "expected"), [
    ("a dog dog dog dog on the grass", "a dog on the grass"),
    ("a man, a man, a man, a man.", "a man"),  # punctuation ignored; dangling comma dropped
    ("a red car. A red car. a red car.", "a red car."),
    ("two people sitting at a table and a table and a table and a", "two people sitting at a "
     "table and"),  # the token budget cut the loop mid-copy: the partial copy goes too
    ("a cat a cat a cat a dog", "a cat a dog"),  # what follows the loop stays whole
    ("the the cat", "the the cat"),  # twice is not a loop
    ("very very very good very very very bad", "very good very bad"),
    ("a man standing in a room with a man", "a man standing in a room with a man"),
    ("", ""),
])
def test_cut_repetition(text: str, expected: str):
    assert cut_repetition(text) == expected


def test_cut_repetition_options():
    assert cut_repetition("go go go", min_repeats=4) == "go go go"
    assert cut_repetition("the the cat", min_repeats=2) == "the cat"
    with pytest.raises(ValueError):
        cut_repetition("x", min_repeats=1)


def test_cpu_threads_follow_quota(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import torch

    from summarize_video import devices

    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert devices.cgroup_cpu_quota(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert devices.cgroup_cpu_quota(tmp_path) is None
    assert devices.cgroup_cpu_quota(tmp_path / "nothing") is None
    assert devices.available_cpus() >= 1

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(devices, "cgroup_cpu_quota", lambda: 1.5)
    monkeypatch.setattr(devices.os, "sched_getaffinity", lambda pid: set(range(64)),
                        raising=False)
    assert devices.available_cpus() == 2
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(8)
        devices.configure_cpu_threads()
        assert torch.get_num_threads() == 2
        torch.set_num_threads(1)
        devices.configure_cpu_threads()  # never raises the count
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


# -- options -----------------------------------------------------------------------------------


def test_caption_context_option():
    assert CAPTION_CONTEXT_MODES == ("none", "speech")
    assert Options().caption_context == "none"
    assert Options(caption_context="speech").caption_context == "speech"
    with pytest.raises(ConfigError, match="caption context") as info:
        Options(caption_context="transcript")
    assert "none, speech" in str(info.value)


def test_shipped_context_prompt_read_on_first_use(monkeypatch: pytest.MonkeyPatch):
    import summarize_video.captioning.transformers as captioning

    calls: list[str] = []

    def fake_load(name: str) -> str:
        calls.append(name)
        return CONTEXT_PROMPT

    monkeypatch.setattr(captioning, "load_prompt", fake_load)
    captioner = TransformersCaptioner("x/y", prompt="Plain prompt.")
    assert captioner.context_prompt is None and calls == []
    assert captioner.user_text(None) == captioner.user_text("") == "Plain prompt."
    assert calls == []  # no speech: the file is not even read
    text = captioner.user_text("the red car")
    assert '"the red car"' in text and "$" not in text
    captioner.user_text("again")
    assert calls == ["caption_context.txt"]  # read once
