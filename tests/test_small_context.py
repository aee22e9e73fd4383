"""Small contexts, as Ollama and llama.cpp often run them (2k-4k tokens): the answer's reserve
adapts to the context, so ``--context-tokens 2048`` alone works, map-reducing as needed.

The chat server enforces the window as vLLM does (prompt plus requested output over it: a
400), over real HTTP through the real client.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from summarize_video.cli.main import cli
from summarize_video.reasoning import synthesis
from summarize_video.testing.chat_server import ChatServer
from tests.clips import make_clip
from tests.support import cli_args, media_file

pytestmark = pytest.mark.usefixtures("clean_llm_env")

GOOD = json.dumps({"summary": "Fits a small window.", "topics": ["party"]})


def request_sizes(srv: ChatServer) -> list[int]:
    """Each request's prompt plus requested output, by the server's own count."""
    sizes = []
    for body in srv.requests:
        text = "\n".join(str(m["content"]) for m in body["messages"])
        sizes.append(srv.count_tokens(text) + (body.get("max_tokens") or 0))
    return sizes


def test_the_answer_reserve_adapts_to_the_context() -> None:
    assert synthesis.answer_reserve(128_000, 4096) == 4096
    assert synthesis.answer_reserve(8192, 4096) == 4096
    assert synthesis.answer_reserve(2048, 4096) == 1024
    assert synthesis.answer_reserve(1500, 4096) == 750
    assert synthesis.answer_reserve(600, 4096) == synthesis.MIN_ANSWER_TOKENS
    assert synthesis.answer_reserve(2048, 300) == 300  # never more than asked for


@pytest.mark.parametrize("context", [2048, 1500])
def test_a_small_context_alone_works_end_to_end_on_a_real_video(
        context: int, tmp_path: Path, tiny_models: dict[str, Path]) -> None:
    video = media_file("noaudio_video/noaudio_video_llama_birthday.mp4")
    out = tmp_path / "out"
    with ChatServer(reply=GOOD, context_limit=context) as srv:
        res = CliRunner().invoke(cli, [
            str(video), *cli_args(tiny_models, out), "--interval", "1", "--base-url",
            srv.base_url, "--context-tokens", str(context), "--format", "json"])
        statuses, sizes = srv.statuses, request_sizes(srv)
    assert res.exit_code == 0, res.output
    assert statuses and set(statuses) == {200}  # nothing the server had to refuse
    assert max(sizes) <= context
    data = json.loads((out / f"{video.stem}.summary.json").read_text(encoding="utf-8"))
    assert data["summary"] == "Fits a small window."
    assert data["reasoning"]["context_tokens"] == context


class Wordy:
    """A captioner of one's own: a long caption for each frame, no model."""

    model_id = "wordy"

    def caption(self, frames: Any, contexts: Any = None) -> list[str]:
        return [f"a long and detailed description of frame {i}: " + "words " * 12
                for i, _ in enumerate(frames)]


def test_a_long_timeline_in_2048_tokens_is_map_reduced(tmp_path: Path) -> None:
    from summarize_video import summarize
    from summarize_video.reasoning.registry import OpenAIReasoner

    clip = make_clip(tmp_path / "long.mp4", seconds=60.0, fps=1, audio=False)
    with ChatServer(reply=GOOD, context_limit=2048) as srv:
        reasoner = OpenAIReasoner("test-model", base_url=srv.base_url, max_retries=0)
        result = summarize(clip, captioner=Wordy(), reasoner=reasoner, interval=1.0,
                           dedup_threshold=0.0, no_cache=True, context_tokens=2048)
        statuses, sizes = srv.statuses, request_sizes(srv)
    assert set(statuses) == {200} and max(sizes) <= 2048
    assert result.summary == "Fits a small window."
    assert result.reasoning["windows"] > 1 and len(statuses) > result.reasoning["windows"]


def test_an_explicit_output_budget_is_kept_and_a_context_too_small_for_it_is_refused(
        tmp_path: Path, tiny_models: dict[str, Path]) -> None:
    clip = make_clip(tmp_path / "c.mp4", seconds=2.0, fps=10)
    with ChatServer(reply=GOOD) as srv:
        res = CliRunner().invoke(cli, [
            str(clip), *cli_args(tiny_models, tmp_path / "out"), "--base-url", srv.base_url,
            "--context-tokens", "1500", "--llm-max-output-tokens", "1400"])
        assert srv.requests == []
    assert res.exit_code == 2, res.output
    assert "1400 tokens reserved for the answer" in res.output
