"""The reasoning LLM's server failing in every way a real one does, through the CLI.

Each fault ends in bounded retries, a one-line message naming the base URL, an exit code from
the README, and the captions and transcript kept (written, and cached for the rerun). One
shared cache folder per module: only the first run captions and transcribes.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from summarize_video.cli.main import cli
from summarize_video.reasoning.request_shape import Overflow, context_overflow
from summarize_video.testing.chat_quirks import Step
from summarize_video.testing.chat_server import ChatServer
from tests.clips import make_clip
from tests.secrets_scan import SENTINEL
from tests.support import cli_args


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("faults")
    return {"clip": make_clip(root / "talk.mp4", seconds=2.0, fps=10),
            "cache": root / "cache"}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(shared: dict[str, Path], tiny: dict[str, Path], out: Path, base_url: str,
        *extra: str, path: Path | None = None) -> tuple[Any, float]:
    args = [str(path or shared["clip"]), *cli_args(tiny, out), "--cache-dir",
            str(shared["cache"]), "--base-url", base_url, "--api-key", SENTINEL,
            "--llm-max-retries", "2", *extra]
    t0 = time.monotonic()
    res = CliRunner().invoke(cli, args)
    return res, time.monotonic() - t0


def error_lines(output: str) -> list[str]:
    return [ln for ln in output.splitlines() if "error" in ln.lower() or "failed" in ln.lower()]


def assert_kept(out: Path, stem: str = "talk") -> dict[str, Any]:
    """The result was written without a summary, with captions and transcript."""
    data = json.loads((out / f"{stem}.summary.json").read_text(encoding="utf-8"))
    assert data["summary"] is None
    assert data["captions"] and data["transcript"]
    assert any("reasoning step failed" in n for n in data["notes"])
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))
    return data


FAILURES = [
    # name, server, expected exit code, words of the message, requests the server saw
    ("refused", None, 1, "cannot connect after 3 attempts", 0),
    ("401", ChatServer(status=401), 2, "authentication failed (HTTP 401)", 1),
    ("unknown model", ChatServer(status=404), 2, "not found (HTTP 404)", 1),
    ("500 always", ChatServer(status=500), 1, "server error (HTTP 500) after 3 attempts", 3),
    ("cut mid-answer", ChatServer(script=[Step(cut=True)] * 3), 1,
     "connection was cut before the answer was complete after 3 attempts", 3),
    ("malformed JSON", ChatServer(script=[Step(body='{"id": "x", "choices": [')]), 1,
     "not valid JSON", 1),
    ("no context size", ChatServer(script=[Step(
        400, message="the request exceeds the available context size, try increasing it")]),
     1, "over the model's context window", 1),
]


@pytest.mark.parametrize(("name", "server", "code", "words", "seen"), FAILURES,
                         ids=[f[0] for f in FAILURES])
def test_llm_fault_is_one_clear_line_and_keeps_the_work(
        tmp_path: Path, tiny_models: dict[str, Path], shared: dict[str, Path], name: str,
        server: ChatServer | None, code: int, words: str, seen: int) -> None:
    out = tmp_path / "out"
    if server is None:
        base_url = f"http://127.0.0.1:{closed_port()}/v1"
        res, _ = run(shared, tiny_models, out, base_url)
    else:
        with server:
            base_url = server.base_url
            res, _ = run(shared, tiny_models, out, base_url)
        assert len(server.requests) == seen
    assert res.exit_code == code, res.output
    lines = [ln for ln in res.output.splitlines() if words in ln]
    assert len(lines) == 1, res.output
    assert base_url in lines[0] and "talk.mp4" in lines[0]
    assert "Traceback" not in res.output and SENTINEL not in res.output
    assert_kept(out)


def test_429_with_retry_after_is_waited_then_answered(
        tmp_path: Path, tiny_models: dict[str, Path], shared: dict[str, Path]) -> None:
    out = tmp_path / "out"
    with ChatServer(reply="Fine.", script=[Step(429, retry_after=1)]) as srv:
        res, seconds = run(shared, tiny_models, out, srv.base_url)
    assert res.exit_code == 0, res.output
    assert srv.statuses == [429, 200] and seconds >= 1.0
    data = json.loads((out / "talk.summary.json").read_text(encoding="utf-8"))
    assert data["summary"] == "Fine."


def test_500_twice_then_200_succeeds(tmp_path: Path, tiny_models: dict[str, Path],
                                     shared: dict[str, Path]) -> None:
    out = tmp_path / "out"
    with ChatServer(reply="Third time.", script=[500, 500]) as srv:
        res, _ = run(shared, tiny_models, out, srv.base_url)
    assert res.exit_code == 0, res.output
    assert srv.statuses == [500, 500, 200]
    assert json.loads((out / "talk.summary.json").read_text())["summary"] == "Third time."


def test_a_server_that_never_answers_is_abandoned_in_bounded_time(
        tmp_path: Path, tiny_models: dict[str, Path], shared: dict[str, Path]) -> None:
    out = tmp_path / "out"
    with ChatServer(delay=600) as srv:
        res, seconds = run(shared, tiny_models, out, srv.base_url, "--timeout", "1",
                           "--llm-max-retries", "1")
        assert len(srv.requests) == 2
    assert res.exit_code == 1, res.output
    assert f"{srv.base_url}, model" in res.output and "no answer within 1 s after 2 attempts" \
        in res.output
    assert seconds < 30
    assert_kept(out)


def test_context_exceeded_is_replanned_for_the_window_the_server_names(
        tmp_path: Path, tiny_models: dict[str, Path], caplog: pytest.LogCaptureFixture,
        cli_runner: CliRunner) -> None:
    clip = make_clip(tmp_path / "long.mp4", seconds=60.0, fps=2, audio=False)
    out = tmp_path / "out"
    with ChatServer(reply="Fits now.", context_limit=1500) as srv:
        res = cli_runner.invoke(cli, [str(clip), *cli_args(tiny_models, out), "--interval",
                                       "1", "--base-url", srv.base_url, "--format", "json"])
    assert res.exit_code == 0, res.output
    assert srv.statuses[0] == 400 and set(srv.statuses[1:]) == {200}
    # The timeline no longer fits one request: map requests, then the final one.
    assert len(srv.statuses) >= 4 and data_windows(out) > 1
    assert "pass --context-tokens 1500" in caplog.text
    for body in srv.requests[1:]:
        text = "\n".join(str(m["content"]) for m in body["messages"])
        budget = body.get("max_completion_tokens") or body.get("max_tokens")
        assert (len(text) + 3) // 4 + budget <= 1500
    data = json.loads((out / "long.summary.json").read_text(encoding="utf-8"))
    assert data["summary"] == "Fits now." and data["reasoning"]["context_tokens"] == 1500


def data_windows(out: Path) -> int:
    return int(json.loads((out / "long.summary.json").read_text())["reasoning"]["windows"])


def test_batch_goes_on_when_the_llm_fails(tmp_path: Path, tiny_models: dict[str, Path],
                                          shared: dict[str, Path]) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a", "b"):
        make_clip(folder / f"{name}.mp4", seconds=2.0, fps=10)
    out = tmp_path / "out"
    with ChatServer(status=500) as srv:
        res, _ = run(shared, tiny_models, out, srv.base_url, "--llm-max-retries", "0",
                     path=folder)
        assert len(srv.requests) == 2  # one per file: the second was still tried
    assert res.exit_code == 1, res.output
    for stem in ("a", "b"):
        assert_kept(out, stem)
        assert f"{stem}.mp4" in res.output
    assert srv.base_url in res.output


@pytest.mark.parametrize(("detail", "code", "body", "expected"), [
    ("This model's maximum context length is 8192 tokens. However, your messages resulted "
     "in 9000 tokens.", "context_length_exceeded", None, Overflow(8192, 9000)),
    ("This model's maximum context length is 4096 tokens. However, you requested 5000 tokens "
     "(1000 in the messages, 4000 in the completion).", None, None, Overflow(4096, 1000)),
    ("the request exceeds the available context size, try increasing it", None,
     {"error": {"n_ctx": 2048, "n_prompt_tokens": 2777, "type": "exceed_context_size_error"}},
     Overflow(2048, 2777)),
    ("Trying to keep the first 6000 tokens when context the overflows. However, the model is "
     "loaded with context length of only 4096 tokens", None, None, Overflow(4096, None)),
    ("Unsupported parameter: 'max_tokens'", None, None, None),
])
def test_context_overflow_wordings(detail: str, code: str | None, body: Any,
                                   expected: Overflow | None) -> None:
    assert context_overflow(detail, code, body) == expected
