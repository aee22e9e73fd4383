"""A user's first run on a machine without the models: every missing model reported at once,
before any work, with the way out; each library warning printed once.

The tests run offline (``HF_HUB_OFFLINE=1``, set in ``conftest``) against an empty hub cache.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.clips import make_clip
from tests.support import ROOT, run_console

TRIAL_SECTION = "## Try it without downloads"


@pytest.fixture
def empty_hub(tmp_path: Path) -> dict[str, str]:
    """Downloads off and hub and whisper caches with nothing in them."""
    return {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
            "HF_HUB_CACHE": str(tmp_path / "hf" / "hub"),
            "XDG_CACHE_HOME": str(tmp_path / "xdg")}


def test_every_missing_model_is_reported_at_once_before_any_work(
        tmp_path: Path, empty_hub: dict[str, str]) -> None:
    clip = make_clip(tmp_path / "clip.mp4", seconds=1.0, fps=10)
    out = tmp_path / "out"
    res = run_console(str(clip), "--output-dir", str(out),
                      "--caption-model", "nobody-here/no-captioner",
                      "--whisper-model", "nobody-here/no-whisper",
                      "--llm-backend", "transformers", "--llm-model", "nobody-here/no-llm",
                      env=empty_hub)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    line = lines[0]
    assert line.startswith("error: model: 3 models this run needs are not on this machine")
    for model in ("captioning model 'nobody-here/no-captioner'",
                  "faster-whisper model 'nobody-here/no-whisper'",
                  "reasoning model 'nobody-here/no-llm'"):
        assert model in line
    assert "local folders" in line and "'Try it without downloads' in the README" in line
    assert res.stdout == ""
    assert not list(out.glob("*.summary.*"))  # nothing was done


def test_default_models_missing_offline_are_named_with_the_whisper_default(
        tmp_path: Path, empty_hub: dict[str, str]) -> None:
    clip = make_clip(tmp_path / "clip.mp4", seconds=1.0, fps=10)
    res = run_console(str(clip), "--output-dir", str(tmp_path / "out"), "--no-llm",
                      "--transcriber", "whisper", env=empty_hub)
    assert res.returncode == 2, res.stderr
    assert "2 models" in res.stderr and "whisper model 'base'" in res.stderr
    assert "captioning model 'HuggingFaceTB/SmolVLM-256M-Instruct'" in res.stderr


def test_a_missing_local_folder_is_reported_with_the_missing_hub_models(
        tmp_path: Path, empty_hub: dict[str, str], tiny_models: dict[str, Path]) -> None:
    clip = make_clip(tmp_path / "clip.mp4", seconds=1.0, fps=10)
    res = run_console(str(clip), "--output-dir", str(tmp_path / "out"), "--no-llm",
                      "--caption-model", str(tmp_path / "no-such-folder"),
                      "--whisper-model", str(tiny_models["whisper"]), env=empty_hub)
    assert res.returncode == 2, res.stderr
    assert "a model this run needs is not on this machine" in res.stderr
    assert f"captioning model '{tmp_path / 'no-such-folder'}'" in res.stderr
    assert "whisper" not in res.stderr.split("(")[0]  # the tiny whisper is there


def test_the_readme_has_the_trial_the_message_points_to() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert TRIAL_SECTION in readme
    trial = readme.split(TRIAL_SECTION, 1)[1].split("\n## ", 1)[0]
    assert "python -m summarize_video.testing.tiny_models" in trial
    assert "python -m summarize_video.testing.chat_server" in trial


WARN_ONCE = """
import logging, sys
import huggingface_hub  # keeps a handler of its own on its logger, and propagates
from rich.console import Console
from summarize_video.cli.terminal import logging_to

with logging_to(Console(stderr=True), verbose=False, quiet=False):
    logging.getLogger("huggingface_hub.file_download").warning("the hub is unreachable")
    logging.getLogger("summarize_video.pipeline").warning("a warning of ours")
"""


def test_each_library_warning_is_printed_once() -> None:
    res = subprocess.run([sys.executable, "-c", WARN_ONCE], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("the hub is unreachable") == 1, res.stderr
    assert res.stderr.count("a warning of ours") == 1, res.stderr
