"""What real OpenAI-compatible servers answer, and what the run makes of it.

``transformers serve`` with a random model fills the output budget with one token repeated
(``finish_reason: length``); llama.cpp's JSON grammar makes a random model answer ``{ }``; a
FastAPI server pinned to one model answers ``{"detail": "..."}``; llama.cpp refuses a prompt
over its context with its own token counts. Real HTTP on 127.0.0.1, the real ``openai``
client, the real CLI and tiny models.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from summarize_video.errors import ReasonerAuthError, ReasonerError
from summarize_video.testing.chat_quirks import Step
from summarize_video.testing.chat_server import ChatServer
from tests.clips import make_clip
from tests.secrets_scan import SENTINEL
from tests.support import MESSAGES, reasoner_for, run_on_talk

pytestmark = pytest.mark.usefixtures("clean_llm_env")

# What transformers serve sent: one token over and over until the budget ran out.
REPEATED = ("ĠBoth" * 8192)[:40_959]
GOOD = json.dumps({"summary": "A real summary.", "key_moments": [], "topics": ["test"]})


def written(out: Path) -> dict[str, Any]:
    return json.loads((out / "talk.summary.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(("name", "step"), [
    ("cut at the budget", Step(content=REPEATED, finish_reason="length")),
    ("empty JSON object", Step(content="{ }")),
])
def test_no_answer_is_asked_again_then_the_file_fails_keeping_its_work(
        name: str, step: Step, tmp_path: Path, tiny_models: dict[str, Path],
        talk_clip: dict[str, Path]) -> None:
    assert len(REPEATED) == 40_959
    out = tmp_path / "out"
    with ChatServer(script=[step, step]) as srv:
        res = run_on_talk(talk_clip, tiny_models, out, srv.base_url, "--format", "json")
        assert len(srv.requests) == 2  # asked once more, then given up
    assert res.exit_code == 1, res.output
    assert "without an answer" in res.output and "Traceback" not in res.output
    data = written(out)
    assert data["summary"] is None and data["captions"] and data["transcript"]
    assert any("reasoning step failed" in n and "without an answer" in n
               for n in data["notes"])
    assert "ĠBoth" not in json.dumps(data)


def test_a_second_try_that_answers_is_the_summary(
        tmp_path: Path, tiny_models: dict[str, Path], talk_clip: dict[str, Path]) -> None:
    out = tmp_path / "out"
    with ChatServer(script=[Step(content=REPEATED, finish_reason="length"),
                            Step(content=GOOD)]) as srv:
        res = run_on_talk(talk_clip, tiny_models, out, srv.base_url, "--format", "json")
        assert len(srv.requests) == 2
    assert res.exit_code == 0, res.output
    assert written(out)["summary"] == "A real summary."


def test_a_cut_json_answer_with_a_whole_summary_is_still_an_answer(
        tmp_path: Path, tiny_models: dict[str, Path], talk_clip: dict[str, Path]) -> None:
    cut = '{"summary": "Said in full.", "key_moments": [{"t": "00:01", "te'
    out = tmp_path / "out"
    with ChatServer(script=[Step(content=cut, finish_reason="length")]) as srv:
        res = run_on_talk(talk_clip, tiny_models, out, srv.base_url, "--format", "json")
        assert len(srv.requests) == 1
    assert res.exit_code == 0, res.output
    assert written(out)["summary"] == "Said in full."


PINNED = {"detail": "Server is pinned to 'hf-internal-testing/tiny-random-LlamaForCausalLM'; "
                    "requested 'llama3.2'."}


@pytest.mark.parametrize("status", [400, 422, 500])
def test_an_unknown_model_is_the_model_hint_with_the_servers_own_words(status: int) -> None:
    with ChatServer(script=[Step(status, error_body=PINNED)]) as srv, \
            pytest.raises(ReasonerAuthError) as info:
        reasoner_for(srv, model="llama3.2", max_retries=0).complete(MESSAGES)
    line = info.value.one_line()
    assert "Server is pinned to 'hf-internal-testing/tiny-random-LlamaForCausalLM'" in line
    assert "--llm-model" in line and "context window" not in line
    assert info.value.exit_code == 2 and "\n" not in line


def test_an_unknown_model_stops_the_cli_with_exit_2(
        tmp_path: Path, tiny_models: dict[str, Path], talk_clip: dict[str, Path]) -> None:
    with ChatServer(script=[Step(400, error_body=PINNED)]) as srv:
        res = run_on_talk(talk_clip, tiny_models, tmp_path / "out", srv.base_url,
                          "--format", "json", "--llm-model", "llama3.2")
    assert res.exit_code == 2, res.output
    assert "Server is pinned to" in res.output and "--llm-model" in res.output
    assert "Traceback" not in res.output


def test_a_servers_message_is_shown_redacted_short_and_on_one_line() -> None:
    detail = f"bad request for key {SENTINEL}:\n" + "x" * 2000
    with ChatServer(script=[Step(400, error_body={"detail": detail})]) as srv, \
            pytest.raises(ReasonerError) as info:
        reasoner_for(srv, max_retries=0).complete(MESSAGES)
    line = info.value.one_line()
    assert "bad request for key" in line and SENTINEL not in line
    assert "\n" not in line and len(line) < 800 and "context window" not in line


class Wordy:
    """A captioner of one's own: a long caption for each frame, no model."""

    model_id = "wordy"

    def caption(self, frames: Any, contexts: Any = None) -> list[str]:
        return [f"a long and detailed description of frame {i}: " + "words " * 12
                for i, _ in enumerate(frames)]


def test_llama_cpp_counts_are_used_to_replan_and_the_run_succeeds(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from summarize_video import summarize
    from summarize_video.reasoning.registry import OpenAIReasoner

    # The server's tokenizer counts about twice the tokens estimated here (a small model's
    # vocabulary): its window of 6144 tokens is about 3000 of ours.
    clip = make_clip(tmp_path / "long.mp4", seconds=80.0, fps=1, audio=False)
    with ChatServer(reply=GOOD, context_limit=6144, context_style="llama.cpp",
                    chars_per_token=1.5) as srv:
        reasoner = OpenAIReasoner("test-model", base_url=srv.base_url, max_retries=0)
        result = summarize(clip, captioner=Wordy(), reasoner=reasoner, interval=1.0,
                           dedup_threshold=0.0, no_cache=True)
        statuses, bodies = srv.statuses, srv.requests
    assert statuses[0] == 400 and set(statuses[1:]) == {200}  # one refusal, then all fit
    assert result.summary == "A real summary."
    assert result.reasoning["windows"] > 1 and result.reasoning["context_tokens"] == 6144
    assert result.reasoning["server_token_ratio"] > 1.5
    for body in bodies[1:]:
        text = "\n".join(str(m["content"]) for m in body["messages"])
        assert len(text) / 1.5 + body["max_tokens"] <= 6144  # by the server's own count
    assert "counts" in caplog.text and "pass --context-tokens 6144" in caplog.text
