"""OpenAIReasoner against a real local HTTP server, through the real ``openai`` client."""

from __future__ import annotations

import json
import socket
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from summarize_video.errors import ConfigError, ReasonerAuthError, ReasonerError
from summarize_video.reasoning.registry import (
    REASONERS,
    Completion,
    OpenAIReasoner,
    Usage,
    create_reasoner,
    strip_thinking,
)
from summarize_video.testing.chat_quirks import Step
from summarize_video.testing.chat_server import ChatServer
from tests.secrets_scan import SENTINEL
from tests.support import MESSAGES
from tests.support import reasoner_for as _reasoner

# No real key, URL or proxy from the developer's shell (conftest.clean_llm_env).
pytestmark = pytest.mark.usefixtures("clean_llm_env")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_request_carries_messages_and_model_and_reply_comes_back() -> None:
    with ChatServer(reply="  The cat greets the viewer.  ") as srv:
        completion = _reasoner(srv).complete(MESSAGES)
        assert len(srv.requests) == 1
        body = srv.requests[0]
        headers = srv.request_headers[0]
    assert body["model"] == "test-model"
    assert body["messages"] == MESSAGES
    # A compatible server gets the widely known parameters; no JSON mode unless asked.
    assert body["temperature"] == 0.2 and body["max_tokens"] == 4096
    assert "max_completion_tokens" not in body and "response_format" not in body
    assert headers["authorization"] == f"Bearer {SENTINEL}"
    assert isinstance(completion, Completion)
    assert completion.text == "The cat greets the viewer."
    assert completion.model == "test-model"
    assert completion.finish_reason == "stop"
    assert completion.json_mode_used is False


def test_usage_is_parsed() -> None:
    with ChatServer(reply="x" * 40) as srv:
        completion = _reasoner(srv).complete(MESSAGES)
    expected_prompt = (len("\n".join(m["content"] for m in MESSAGES)) + 3) // 4
    assert completion.usage == Usage(prompt_tokens=expected_prompt, completion_tokens=10)
    assert completion.usage.estimated is False


def test_missing_usage_is_estimated() -> None:
    with ChatServer(reply="y" * 80, omit_usage=True) as srv:
        completion = _reasoner(srv).complete(MESSAGES)
    assert completion.usage.estimated is True
    assert completion.usage.completion_tokens == 25  # 80 chars at 3.3 per token
    assert completion.usage.prompt_tokens > 0


def test_think_block_is_stripped() -> None:
    reply = "<think>\nThe user wants a summary.\nLet me think.\n</think>\n\nA cat video."
    with ChatServer(reply=reply) as srv:
        assert _reasoner(srv).complete(MESSAGES).text == "A cat video."


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("no thinking", "no thinking"),
        ("<think>a</think>b<think>c</think> d ", "b d"),
        ("reasoning without an opening tag</think>\nanswer", "answer"),
        ("<THINK>x</THINK>y", "y"),
        ("<think>truncated while thinking", ""),
    ],
)
def test_strip_thinking(raw: str, clean: str) -> None:
    assert strip_thinking(raw) == clean


def test_reply_callable_sees_request_body() -> None:
    with ChatServer(reply=lambda body: f"{len(body['messages'])} messages") as srv:
        assert _reasoner(srv).complete(MESSAGES).text == "2 messages"


def test_empty_answer_is_an_error() -> None:
    with (
        ChatServer(reply="<think>only thoughts</think>  ") as srv,
        pytest.raises(ReasonerError, match="empty answer") as info,
    ):
        _reasoner(srv).complete(MESSAGES)
    assert not isinstance(info.value, ReasonerAuthError)


def test_401_is_auth_error_naming_url_and_never_the_key() -> None:
    # The fake server echoes the presented key in its 401 message: it must be scrubbed.
    with ChatServer(status=401) as srv, pytest.raises(ReasonerAuthError) as info:
        _reasoner(srv).complete(MESSAGES)
    err = info.value
    text = str(err)
    assert srv.base_url in text
    assert "test-model" in text
    assert "401" in text
    assert "***" in text
    assert "\n" not in text
    for shown in (text, repr(err), err.message, err.hint or "", *map(str, err.args)):
        assert SENTINEL not in shown
    assert err.__cause__ is None and err.__suppress_context__
    assert err.exit_code == 2


def test_404_unknown_model_is_auth_error() -> None:
    with ChatServer(status=404) as srv, pytest.raises(ReasonerAuthError, match="not found"):
        _reasoner(srv).complete(MESSAGES)


def test_server_error_is_reasoner_error_after_retries() -> None:
    with ChatServer(status=503, fail_times=1, reply="recovered") as srv:
        assert _reasoner(srv, max_retries=1).complete(MESSAGES).text == "recovered"
        assert len(srv.requests) == 2
    with ChatServer(status=500) as srv, pytest.raises(ReasonerError) as info:
        _reasoner(srv).complete(MESSAGES)
    assert not isinstance(info.value, ReasonerAuthError)
    assert "500" in str(info.value) and srv.base_url in str(info.value)


def test_connection_refused_is_quick_reasoner_error() -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    reasoner = OpenAIReasoner(
        "test-model", base_url=url, api_key=SENTINEL, max_retries=0, timeout=3.0
    )
    started = time.monotonic()
    with pytest.raises(ReasonerError) as info:
        reasoner.complete(MESSAGES)
    assert time.monotonic() - started < 3.0
    assert not isinstance(info.value, ReasonerAuthError)
    assert url in str(info.value) and "test-model" in str(info.value)
    assert SENTINEL not in str(info.value)


def test_timeout_is_reasoner_error_naming_the_server() -> None:
    with (
        ChatServer(delay=1.5) as srv,
        pytest.raises(ReasonerError, match="no answer within") as info,
    ):
        _reasoner(srv, timeout=0.3).complete(MESSAGES)
    assert srv.base_url in str(info.value) and "test-model" in str(info.value)
    assert "\n" not in str(info.value) and SENTINEL not in str(info.value)


def test_no_key_and_no_base_url_is_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        OpenAIReasoner("gpt-5-mini")
    text = str(info.value)
    assert "OPENAI_API_KEY" in text and "--base-url" in text and "\n" not in text


def test_env_base_url_is_honored_and_needs_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with ChatServer(reply="from env") as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        reasoner = OpenAIReasoner("test-model", max_retries=0, timeout=10.0)
        assert reasoner.base_url == srv.base_url
        assert reasoner.complete(MESSAGES).text == "from env"
        assert srv.request_headers[0]["authorization"].startswith("Bearer ")


def test_env_api_key_is_used_and_not_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    with ChatServer() as srv:
        reasoner = OpenAIReasoner("test-model", base_url=srv.base_url, max_retries=0)
        reasoner.complete(MESSAGES)
        assert srv.request_headers[0]["authorization"] == f"Bearer {SENTINEL}"
    assert SENTINEL not in repr(reasoner) and SENTINEL not in str(reasoner)
    assert "OpenAI" in repr(OpenAIReasoner("gpt-5-mini"))


def test_create_reasoner() -> None:
    assert REASONERS["openai"] is OpenAIReasoner
    with ChatServer() as srv:
        reasoner = create_reasoner("openai", model="test-model", base_url=srv.base_url,
                                   device="cpu")  # the local backend's option is dropped
        assert reasoner.model_id == "test-model" and reasoner.backend == "openai"
        auto = create_reasoner("auto", model="test-model", base_url=srv.base_url, timeout=5.0)
        assert isinstance(auto, OpenAIReasoner) and auto.backend == "openai"
    with pytest.raises(ConfigError, match="unknown reasoner"):
        create_reasoner("nope")


def test_chat_server_lists_models_and_answers_plain_http() -> None:
    with ChatServer(model="m1") as srv:
        with urllib.request.urlopen(f"{srv.base_url}/models", timeout=5) as resp:
            models = json.load(resp)
        assert [m["id"] for m in models["data"]] == ["m1"]
        request = urllib.request.Request(
            f"{srv.base_url}/chat/completions",
            data=json.dumps(
                {"model": "m2", "messages": [{"role": "user", "content": "hi"}]}
            ).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as resp:
            answer = json.load(resp)
    assert answer["object"] == "chat.completion" and answer["model"] == "m2"
    assert answer["choices"][0]["message"]["role"] == "assistant"
    usage = answer["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_module_import_is_cheap() -> None:
    import subprocess

    code = "import sys, summarize_video.reasoning.registry; print('openai' in sys.modules)"
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert out.stdout.strip() == "False"


# -- faults: retries honour Retry-After; 4xx are never retried --------------------------------


def test_429_with_retry_after_is_waited_for_then_succeeds() -> None:
    with ChatServer(script=[Step(429, retry_after=1)], reply="after the wait") as srv:
        started = time.monotonic()
        completion = _reasoner(srv, max_retries=2).complete(MESSAGES)
        waited = time.monotonic() - started
        assert srv.statuses == [429, 200]
    assert completion.text == "after the wait"
    assert 0.9 <= waited < 3.0, waited


def test_two_server_errors_then_success_with_two_retries() -> None:
    with ChatServer(script=[500, 500], reply="third time") as srv:
        assert _reasoner(srv, max_retries=2).complete(MESSAGES).text == "third time"
        assert srv.statuses == [500, 500, 200]
    with ChatServer(script=[500, 500]) as srv, pytest.raises(ReasonerError, match="500"):
        _reasoner(srv, max_retries=1).complete(MESSAGES)


def test_slow_answer_is_retried_after_timeout() -> None:
    with ChatServer(script=[Step(delay=1.5)], reply="fast now") as srv:
        assert _reasoner(srv, timeout=0.4, max_retries=1).complete(MESSAGES).text == "fast now"
        assert len(srv.requests) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_are_not_retried(status: int) -> None:
    with ChatServer(status=status) as srv, pytest.raises(ReasonerError) as info:
        _reasoner(srv, max_retries=3).complete(MESSAGES)
    assert len(srv.requests) == 1
    assert srv.base_url in str(info.value) and str(status) in str(info.value)


# -- quirks: thinking, usage, budgets ---------------------------------------------------------


@pytest.mark.parametrize("think", ["inline", "field", "both"])
def test_thinking_is_never_returned(think: str) -> None:
    with ChatServer(reply="The answer.", think=think, thoughts="SECRET THOUGHTS") as srv:
        completion = _reasoner(srv).complete(MESSAGES)
    assert completion.text == "The answer."


def test_missing_usage_without_tiktoken_cache_is_estimated() -> None:
    from summarize_video.reasoning.tokens import count_messages, estimate_tokens

    with ChatServer(reply="z" * 33, omit_usage=True) as srv:
        reasoner = _reasoner(srv)
        usage = reasoner.complete(MESSAGES).usage
    assert usage == Usage(prompt_tokens=count_messages(MESSAGES, reasoner.model_id),
                          completion_tokens=estimate_tokens("z" * 33), estimated=True)
    assert usage.completion_tokens == 10


def test_corrupt_tiktoken_cache_is_not_used_nor_refetched(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    from summarize_video.reasoning.tokens import count_tokens, is_exact

    url = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
    cache = tmp_path / "tk"
    cache.mkdir()
    bad = cache / hashlib.sha1(url.encode()).hexdigest()
    bad.write_bytes(b"not a BPE table")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    assert not is_exact("gpt-5-mini")
    assert count_tokens("x" * 33, "gpt-5-mini") == 10
    assert bad.read_bytes() == b"not a BPE table"  # tiktoken would delete it and download


def test_empty_answer_at_the_budget_is_retried_once_with_more() -> None:
    with ChatServer(empty_length=1, reply="Finally.") as srv:
        reasoner = _reasoner(srv, max_output_tokens=100)
        assert reasoner.complete(MESSAGES).text == "Finally."
        reasoner.complete(MESSAGES)
        budgets = [r["max_tokens"] for r in srv.requests]
    assert budgets == [100, 400, 400]  # the larger budget is remembered


def test_empty_answer_at_the_budget_twice_is_a_clear_error() -> None:
    with ChatServer(empty_length=2) as srv, pytest.raises(ReasonerError) as info:
        _reasoner(srv).complete(MESSAGES, max_output_tokens=50)
    assert len(srv.requests) == 2 and srv.requests[1]["max_tokens"] == 200
    text = str(info.value)
    assert "output budget" in text and "length" in text and srv.base_url in text
