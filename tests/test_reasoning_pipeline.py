"""The reasoning step inside the pipeline: structured answers, dry runs, questions, a local
reasoner, and long videos on a small context."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from summarize_video.cli.main import cli
from summarize_video.testing.chat_server import ChatServer
from tests.clips import make_clip
from tests.secrets_scan import SENTINEL
from tests.support import cli_args, user_message

ANSWER = {
    "summary": "A clip with a tone.",
    "key_moments": [{"t": "00:02", "text": "Something at two seconds."},
                    {"t": "09:59", "text": "A moment that never happened."}],
    "chapters": [{"start": "00:00", "title": "Start"}],
    "topics": ["tones", "colours"],
}


def test_structured_answer_checked_and_rendered(tmp_path: Path,
                                                tiny_models: dict[str, Path],
                                                cli_runner: CliRunner) -> None:
    clip = make_clip(tmp_path / "c.mp4", seconds=4.0, fps=10)
    out = tmp_path / "out"
    with ChatServer(reply=json.dumps(ANSWER)) as srv:
        res = cli_runner.invoke(cli, [str(clip), *cli_args(tiny_models, out), "--interval", "1",
                                       "--base-url", srv.base_url, "--llm-model", "m"])
        request = srv.requests[0]
    assert res.exit_code == 0, res.output
    data = json.loads((out / "c.summary.json").read_text(encoding="utf-8"))
    assert data["summary"] == "A clip with a tone."
    # The moment at 09:59 points at nothing in a 4 s clip: dropped and counted.
    assert data["key_moments"] == [{"t": 2.0, "text": "Something at two seconds."}]
    assert data["chapters"] == [{"start": 0.0, "title": "Start"}]
    assert data["topics"] == ["tones", "colours"]
    assert data["reasoning"]["dropped_timestamps"] == 1
    assert data["reasoning"]["structured"] is True and data["reasoning"]["calls"] == 1
    assert request["response_format"] == {"type": "json_object"}
    md = (out / "c.summary.md").read_text(encoding="utf-8")
    assert "## Key moments" in md and "**00:02** Something at two seconds." in md
    assert "## Chapters" in md and "**Topics:** tones, colours" in md
    assert "reasoner: openai m" in res.output


def test_timeline_is_fenced_with_a_nonce(tmp_path: Path, tiny_models: dict[str, Path],
                                         chat_server: Any, cli_runner: CliRunner) -> None:
    clip = make_clip(tmp_path / "c.mp4", seconds=2.0, fps=10)
    res = cli_runner.invoke(cli, [str(clip), *cli_args(tiny_models, tmp_path / "o"),
                                   "--base-url", chat_server.base_url])
    assert res.exit_code == 0, res.output
    text = user_message(chat_server.requests[0])
    opening = [ln for ln in text.splitlines() if ln.startswith("<<<TIMELINE-")]
    assert len(opening) == 1
    nonce = opening[0].removeprefix("<<<TIMELINE-")
    assert f"TIMELINE-{nonce}>>>" in text and len(nonce) >= 12
    system = chat_server.requests[0]["messages"][0]["content"]
    assert "data" in system.lower()


def test_dry_run_prints_requests_and_sends_nothing(tmp_path: Path,
                                                   tiny_models: dict[str, Path],
                                                   chat_server: Any, cli_runner: CliRunner) -> None:
    clip = make_clip(tmp_path / "c.mp4", seconds=2.0, fps=10)
    out = tmp_path / "out"
    res = cli_runner.invoke(cli, [str(clip), *cli_args(tiny_models, out), "--dry-run",
                                   "--base-url", chat_server.base_url])
    assert res.exit_code == 0, res.output
    assert chat_server.requests == []
    assert "## request 1:" in res.output and " tokens" in res.output
    assert "### system" in res.output and "### user" in res.output and "00:00 see:" in res.output
    assert not out.exists() or not any(out.iterdir())


def test_long_video_on_a_small_context_is_summarized_in_windows(
        tmp_path: Path, tiny_models: dict[str, Path], chat_server: Any,
        cli_runner: CliRunner) -> None:
    clip = make_clip(tmp_path / "long.mp4", seconds=60.0, fps=2, audio=False)
    out = tmp_path / "out"
    # Runs of identical captions merge into one line, so the timeline's length depends on how
    # the tiny model's captions vary: the PyTorch captioner's make it span several windows.
    res = cli_runner.invoke(cli, [str(clip), *cli_args(tiny_models, out), "--interval", "1",
                                   "--base-url", chat_server.base_url, "--context-tokens", "1200",
                                   "--llm-max-output-tokens", "200", "--format", "json",
                                   "--captioner", "transformers"])
    assert res.exit_code == 0, res.output
    data = json.loads((out / "long.summary.json").read_text(encoding="utf-8"))
    assert data["reasoning"]["windows"] > 1
    assert data["reasoning"]["calls"] == len(chat_server.requests) > data["reasoning"]["windows"]
    from summarize_video.reasoning.tokens import count_messages

    for request in chat_server.requests:
        assert count_messages(request["messages"], request["model"]) <= 1200 - 200
    # Every caption (runs of identical ones merged) went to exactly one map request, in order.
    seen = [ln.split(" see: ", 1)[1] for r in chat_server.requests[: data["reasoning"]["windows"]]
            for ln in user_message(r).splitlines() if " see: " in ln]
    texts = [c["text"] for c in data["captions"]]
    assert len(texts) == 60
    assert seen == [t for i, t in enumerate(texts) if i == 0 or texts[i - 1] != t]


def test_ask_answers_a_question_with_focus(tmp_path: Path, tiny_models: dict[str, Path],
                                           chat_server: Any, cli_runner: CliRunner) -> None:
    clip = make_clip(tmp_path / "c.mp4", seconds=2.0, fps=10)
    res = cli_runner.invoke(cli, ["ask", str(clip), "What colour is it?",
                                   *cli_args(tiny_models, tmp_path / "o"),
                                   "--base-url", chat_server.base_url])
    assert res.exit_code == 0, res.output
    assert "A short test summary." in res.output
    assert "What colour is it?" in user_message(chat_server.requests[0])


@pytest.mark.no_api_key
def test_local_reasoner_through_the_cli(tmp_path: Path, tiny_models: dict[str, Path],
                                        monkeypatch: pytest.MonkeyPatch,
                                        cli_runner: CliRunner) -> None:
    from summarize_video.testing.tiny_llm import build_tiny_llm

    llm = build_tiny_llm(tmp_path / "llm")
    clip = make_clip(tmp_path / "c.mp4", seconds=2.0, fps=10)
    out = tmp_path / "out"
    # No key and no base URL: "auto" picks the local transformers reasoner. A random model
    # cut at 8 tokens writes no answer: asked twice, then the file fails, its work kept.
    res = cli_runner.invoke(cli, [str(clip), *cli_args(tiny_models, out), "--llm-model",
                                   str(llm), "--llm-max-output-tokens", "8",
                                   "--format", "json"])
    assert res.exit_code == 1, res.output
    assert "without an answer 2 times" in res.output
    data = json.loads((out / "c.summary.json").read_text(encoding="utf-8"))
    assert data["settings"]["llm_backend"] == "transformers"
    assert data["settings"]["llm_model"] == str(llm)
    assert data["summary"] is None and data["captions"] and data["transcript"]


@pytest.mark.parametrize(("status", "code"), [(500, 1), (401, 2)])
def test_llm_failure_keeps_captions_and_transcript(tmp_path: Path, tiny_models: dict[str, Path],
                                                   status: int, code: int,
                                                   cli_runner: CliRunner) -> None:
    clip = make_clip(tmp_path / "c.mp4", seconds=2.0, fps=10)
    out = tmp_path / "out"
    args = [str(clip), *cli_args(tiny_models, out), "--llm-max-retries", "0"]
    with ChatServer(status=status) as broken:
        res = cli_runner.invoke(cli, [*args, "--base-url", broken.base_url,
                                       "--api-key", SENTINEL])
    assert res.exit_code == code
    assert broken.base_url in res.output and "rerun the same command" in res.output
    assert SENTINEL not in res.output
    data = json.loads((out / "c.summary.json").read_text(encoding="utf-8"))
    assert data["summary"] is None and len(data["captions"]) == 1 and data["transcript"]
    assert any("reasoning step failed" in n for n in data["notes"])
    assert SENTINEL not in (out / "c.summary.json").read_text(encoding="utf-8")
    # The rerun only reasons: captions and transcript come from the cache.
    with ChatServer(reply="Now it works.") as fixed:
        res = cli_runner.invoke(cli, [*args, "--base-url", fixed.base_url])
    assert res.exit_code == 0, res.output
    data = json.loads((out / "c.summary.json").read_text(encoding="utf-8"))
    assert data["summary"] == "Now it works."
    assert data["cache"] == {"captions": "hit", "transcript": "hit"}
