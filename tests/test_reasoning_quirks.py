"""Servers as they really are: rejected parameters and roles, adapted to once and remembered.

Through the real ``openai`` client over HTTP against ``ChatServer``'s OpenAI-worded 400s.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from summarize_video.errors import ReasonerError
from summarize_video.reasoning.registry import OpenAIReasoner
from summarize_video.testing.chat_quirks import Step
from summarize_video.testing.chat_server import ChatServer
from tests.secrets_scan import SENTINEL
from tests.support import MESSAGES, reasoner_for

# No real key, URL or proxy from the developer's shell (conftest.clean_llm_env).
pytestmark = pytest.mark.usefixtures("clean_llm_env")

DEV_MESSAGES = [{"role": "developer", "content": "Be brief."}, MESSAGES[1]]


@pytest.mark.parametrize(
    ("reject", "model", "messages", "json_mode", "check"),
    [
        ("temperature", "test-model", MESSAGES, False, lambda b: "temperature" not in b),
        ("max_tokens", "test-model", MESSAGES, False,
         lambda b: b["max_completion_tokens"] == 4096 and "max_tokens" not in b),
        ("max_completion_tokens", "gpt-5-mini", MESSAGES, False,
         lambda b: b["max_tokens"] == 25000 and "max_completion_tokens" not in b),
        ("response_format", "test-model", MESSAGES, True, lambda b: "response_format" not in b),
        ("developer", "test-model", DEV_MESSAGES, False,
         lambda b: [m["role"] for m in b["messages"]] == ["system", "user"]),
        ("system", "test-model", MESSAGES, False,
         lambda b: [m["role"] for m in b["messages"]] == ["user"]
         and b["messages"][0]["content"].startswith("You summarize videos.\n\n[00:05]")),
    ],
)
def test_rejected_parameter_is_adapted_and_remembered(
    reject: str, model: str, messages: list[dict[str, str]], json_mode: bool,
    check: Callable[[dict[str, Any]], bool],
) -> None:
    with ChatServer(reject_params={reject}, reply="ok") as srv:
        reasoner = OpenAIReasoner(model, base_url=srv.base_url, api_key=SENTINEL,
                                  max_retries=0, timeout=10.0)
        first = reasoner.complete(messages, json_mode=json_mode)
        assert srv.statuses == [400, 200]
        second = reasoner.complete(messages, json_mode=json_mode)
        assert srv.statuses == [400, 200, 200]  # remembered: no second rejection
        bodies = srv.requests
    assert first.text == second.text == "ok"
    assert check(bodies[1]) and check(bodies[2])
    assert first.json_mode_used is False


def test_everything_rejected_at_once_is_adapted_one_by_one() -> None:
    rejects = {"temperature", "max_tokens", "max_completion_tokens", "response_format",
               "developer"}
    with ChatServer(reject_params=rejects, reply="plain") as srv:
        reasoner = reasoner_for(srv)
        assert reasoner.complete(DEV_MESSAGES, json_mode=True).text == "plain"
        assert srv.statuses == [400] * 5 + [200]
        reasoner.complete(DEV_MESSAGES, json_mode=True)
        assert len(srv.requests) == 7
        last = srv.requests[-1]
    assert set(last) == {"model", "messages"}
    assert last["messages"][0]["role"] == "system"


@pytest.mark.parametrize("model", ["gpt-5-mini", "o3-mini", "o1", "openai/o4-mini"])
def test_reasoning_model_names_get_the_right_parameters_first(model: str) -> None:
    with ChatServer(reject_params={"temperature", "max_tokens"}) as srv:
        OpenAIReasoner(model, base_url=srv.base_url, max_retries=0).complete(MESSAGES)
        assert srv.statuses == [200]
        body = srv.requests[0]
    assert "temperature" not in body and body["max_completion_tokens"] == 25000


def test_json_mode_is_sent_and_reported() -> None:
    with ChatServer(reply="prose", json_reply=lambda body: json.dumps({"n": 1})) as srv:
        reasoner = reasoner_for(srv)
        completion = reasoner.complete(MESSAGES, json_mode=True)
        assert srv.requests[0]["response_format"] == {"type": "json_object"}
        assert reasoner.complete(MESSAGES).text == "prose"
    assert json.loads(completion.text) == {"n": 1} and completion.json_mode_used is True


def test_budget_too_large_is_capped_to_what_the_server_names() -> None:
    too_big = ("max_tokens is too large: 4096. This model supports at most 1000 completion "
               "tokens, whereas you provided 4096.")
    with ChatServer(script=[Step(400, message=too_big)]) as srv:
        reasoner = reasoner_for(srv)
        reasoner.complete(MESSAGES)
        reasoner.complete(MESSAGES, max_output_tokens=3000)
        assert [r["max_tokens"] for r in srv.requests] == [4096, 1000, 1000]


def test_unadaptable_400_is_one_error_without_retry() -> None:
    needs_word = ("'messages' must contain the word 'json' in some form, to use "
                  "'response_format' of type 'json_object'.")
    with ChatServer(script=[Step(400, message=needs_word)]) as srv, \
            pytest.raises(ReasonerError, match="must contain the word") as info:
        reasoner_for(srv, max_retries=2).complete(MESSAGES, json_mode=True)
    assert len(srv.requests) == 1 and srv.base_url in str(info.value)
