"""Numeric options are checked once, in ``Options``: the CLI, the config file, the environment
and ``summarize()`` all refuse the same values with the same one-line error."""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from summarize_video.cli.flags import pipeline_options
from summarize_video.cli.main import cli
from summarize_video.errors import EXIT_USAGE, ConfigError
from summarize_video.options import NUMBER_RANGES, Options, describe_range
from summarize_video.outputs.writers import JsonWriter


def _is_float(hint: object) -> bool:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return float in typing.get_args(hint)
    return hint is float


HINTS = typing.get_type_hints(Options)
# Every float option of Options: a new one is covered here without a new test.
FLOATS = [f.name for f in dataclasses.fields(Options) if _is_float(HINTS[f.name])]
BAD = ["nan", "inf", "-inf"]
# Finite values over a sane maximum (a timeout past a day overflows the clocks it is given to).
TOO_BIG = [("decode_timeout", "1e12"), ("timeout", "1e12")]
FLAGS = {p.name: p.opts[0] for p in getattr(pipeline_options(lambda: None),
                                             "__click_params__", [])
         if isinstance(p, click.Option)}


def test_every_float_option_has_a_range() -> None:
    assert FLOATS and set(FLOATS) <= set(NUMBER_RANGES)


def _assert_one_line_usage_error(exit_code: int, output: str, name: str) -> None:
    """Exit 2 and one line ``error: ...`` naming the option (click's refusal of a flag's
    range is in the same style)."""
    assert exit_code == EXIT_USAGE, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), output
    if "is not in the range" in lines[0] and FLAGS.get(name, name) in lines[0]:
        pass  # click refused the flag
    else:
        assert name in lines[0], output
        # Options' range, or the flag's range (checked first for the file and environment).
        assert (describe_range(*NUMBER_RANGES[name]) in lines[0]
                or "is not in the range" in lines[0]), output
    assert "Traceback" not in output, output


@pytest.mark.parametrize("value", BAD)
@pytest.mark.parametrize("name", FLOATS)
def test_non_finite_flags_are_refused(name: str, value: str, tmp_path: Path,
                                      cli_runner: CliRunner) -> None:
    if name not in FLAGS:
        pytest.skip(f"{name} has no flag")
    video = tmp_path / "talk.mp4"
    video.write_bytes(b"not read: the options are refused first")
    result = cli_runner.invoke(cli, [str(video), FLAGS[name], value, "--output-dir",
                                     str(tmp_path / "out")])
    _assert_one_line_usage_error(result.exit_code, result.output, name)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("name", "value"), [(n, v) for n in FLOATS for v in BAD] + TOO_BIG)
def test_the_config_file_refuses_the_same_values(name: str, value: str, empty_config: Path,
                                                 cli_runner: CliRunner) -> None:
    # TOML has nan and inf literals.
    empty_config.write_text(f"{name} = {value}\n", encoding="utf-8")
    result = cli_runner.invoke(cli, ["config"])
    _assert_one_line_usage_error(result.exit_code, result.output, name)
    assert str(empty_config) in result.output


@pytest.mark.parametrize(("name", "value"), TOO_BIG)
def test_flags_over_the_maximum_are_refused(name: str, value: str, tmp_path: Path,
                                            cli_runner: CliRunner) -> None:
    result = cli_runner.invoke(cli, ["config", FLAGS[name], value])
    _assert_one_line_usage_error(result.exit_code, result.output, name)


@pytest.mark.parametrize("name", FLOATS)
def test_the_library_refuses_them_too(name: str) -> None:
    with pytest.raises(ConfigError, match=name) as caught:
        Options.from_kwargs(**{name: math.nan})
    assert caught.value.exit_code == EXIT_USAGE and caught.value.stage == "options"
    low, _, high = NUMBER_RANGES[name]
    assert f"{low if low is not None else high:g}" in caught.value.one_line()


def test_every_default_is_in_its_range() -> None:
    Options()  # raises if a default were out of range


def test_summary_json_is_strict_json(tmp_path: Path) -> None:
    from summarize_video.pipeline.results import Result, VideoInfo
    from summarize_video.reasoning.base import Usage

    video = VideoInfo(path="talk.mp4", duration_s=math.nan, width=2, height=2, fps=math.inf,
                      has_audio=False)
    result = Result(video=video, settings={"interval_s": math.inf}, captions=(), transcript=(),
                    language=None, summary=None, usage=Usage(0, 0), timings_s={"total": 1.0})
    text = JsonWriter().render(result)
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} written into JSON"))
    assert data["video"]["duration_s"] is None and data["settings"]["interval_s"] is None


@pytest.mark.parametrize("name", FLOATS)
def test_the_environment_refuses_them_too(name: str, cli_runner: CliRunner,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    variable = f"SUMMARIZE_VIDEO_{name.upper()}"
    monkeypatch.setenv(variable, "nan")
    result = cli_runner.invoke(cli, ["config"])
    _assert_one_line_usage_error(result.exit_code, result.output, name)
    assert variable in result.output
