"""Choosing an executor, and the ray executor where Ray is not installed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from summarize_video import summarize_many
from summarize_video.batch.ray_executor import RAY_EXTRA
from summarize_video.cli.main import cli
from summarize_video.errors import ConfigError
from tests.clips import make_clip
from tests.support import cli_args


@pytest.fixture
def without_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import ray`` fails, as where the extra is not installed."""
    monkeypatch.setitem(sys.modules, "ray", None)


def test_ray_executor_without_ray_is_one_clear_error(tmp_path: Path, without_ray: None,
                                                     tiny_models: dict[str, Path],
                                                     cli_runner: CliRunner) -> None:
    clip = make_clip(tmp_path / "a.mp4", seconds=1.0, fps=10, audio=False)
    with pytest.raises(ConfigError) as caught:
        next(summarize_many([clip], executor="ray", no_llm=True))
    assert caught.value.one_line() == (
        f"ray: the ray executor needs Ray, which is not installed ({RAY_EXTRA})")
    run = cli_runner.invoke(cli, [str(clip), *cli_args(tiny_models, tmp_path / "out"),
                                   "--no-llm", "--executor", "ray"])
    assert run.exit_code == 2
    assert run.output.strip() == (
        'error: ray: the ray executor needs Ray, which is not installed (pip install '
        '"summarize-video[ray]")')
    assert not (tmp_path / "out").exists()  # nothing was processed


def test_executor_settings_are_checked(tmp_path: Path, cli_runner: CliRunner) -> None:
    clip = make_clip(tmp_path / "a.mp4", seconds=1.0, fps=10, audio=False)
    with pytest.raises(ConfigError, match="unknown executor 'dask'"):
        next(summarize_many([clip], executor="dask", no_llm=True))
    with pytest.raises(ConfigError) as caught:
        next(summarize_many([clip], ray_address="10.0.0.1:6379", ray_workers=2, no_llm=True))
    assert caught.value.one_line() == ("options: ray_address, ray_workers only apply to the ray "
                                       "executor (pass executor='ray' (--executor ray))")
    run = cli_runner.invoke(cli, [str(clip), "--no-llm", "--llm-concurrency", "2"])
    assert run.exit_code == 2 and "--llm-concurrency only apply with --executor ray" in run.output
