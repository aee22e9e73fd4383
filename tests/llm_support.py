"""Shared by the reasoner tests: a clean environment and a reasoner aimed at a ChatServer."""

from __future__ import annotations

from pathlib import Path

import pytest

from summarize_video.reasoning.registry import OpenAIReasoner
from summarize_video.testing.chat_server import ChatServer

SENTINEL = "sk-SENTINEL-123"
MESSAGES = [
    {"role": "system", "content": "You summarize videos."},
    {"role": "user", "content": "[00:05] caption: a cat on a sofa\n[00:07] speech: hello"},
]


@pytest.fixture(autouse=True)
def clean_llm_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real key, URL or proxy from the developer's shell may leak into these tests, and
    token estimates never depend on a tiktoken cache the machine may have."""
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken-cache"))
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "OPENAI_ADMIN_KEY",
        "OPENAI_CUSTOM_HEADERS",
        "OPENAI_ORG_ID",
        "OPENAI_PROJECT_ID",
    ):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def reasoner_for(srv: ChatServer, model: str = "test-model", **kwargs: object) -> OpenAIReasoner:
    """An OpenAIReasoner on ``srv``: the sentinel key, no retries, a 10 s timeout."""
    kwargs.setdefault("api_key", SENTINEL)
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("timeout", 10.0)
    return OpenAIReasoner(model, base_url=srv.base_url, **kwargs)  # type: ignore[arg-type]
