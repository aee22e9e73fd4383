"""Settings from flags, SUMMARIZE_VIDEO_* variables, the TOML config file and the defaults."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from summarize_video.cli.config import config_path, convert, env_values, load_config, resolve
from summarize_video.cli.main import cli
from summarize_video.errors import ConfigError
from summarize_video.options import Options
from summarize_video.pipeline.cost import load_prices
from tests.clips import make_clip
from tests.secrets_scan import SENTINEL

# The sentinel with a suffix for each source (-config, -flag, -env): which one was used shows.
CONFIG = f"""
interval = 3
language = "en"
caption_batch_size = 2
sampling = "scene"
formats = ["json"]
api_key = "{SENTINEL}-config"

[prices."test-model"]
input_per_mtok = 1.0
output_per_mtok = 2.0
"""


@pytest.fixture
def config_file(empty_config: Path) -> Path:
    empty_config.write_text(CONFIG, encoding="utf-8")
    return empty_config


def lines_of(output: str) -> dict[str, str]:
    """``key = value  # source`` lines of ``summarize-video config`` -> {key: line}."""
    return {ln.split(" = ")[0]: ln for ln in output.splitlines() if " = " in ln
            and not ln.startswith("#")}


def test_precedence_flags_env_config_defaults(config_file: Path) -> None:
    env = {"SUMMARIZE_VIDEO_INTERVAL": "4", "SUMMARIZE_VIDEO_CAPTION_BATCH_SIZE": "8",
           "SUMMARIZE_VIDEO_CONFIG": str(config_file)}
    flags = {"interval": 7.0, "sampling": "interval", "device": "cpu"}
    options, sources = resolve(flags, {"interval"}, environ=env)
    assert options.interval == 7.0 and sources["interval"] == "flag"
    assert options.caption_batch_size == 8
    assert sources["caption_batch_size"] == "env SUMMARIZE_VIDEO_CAPTION_BATCH_SIZE"
    assert options.language == "en" and sources["language"] == f"config {config_file}"
    # A flag left at its default does not override the file.
    assert options.sampling == "scene" and options.device == "auto"
    assert options.formats == ("json",) and sources["device"] == "default"
    assert options.prices_file == config_file
    assert sources["prices_file"] == f"config {config_file} [prices]"


@pytest.mark.no_api_key
def test_config_command_shows_values_and_sources(config_file: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 cli_runner: CliRunner) -> None:
    monkeypatch.setenv("SUMMARIZE_VIDEO_INTERVAL", "4")
    monkeypatch.setenv("SUMMARIZE_VIDEO_CAPTION_BATCH_SIZE", "8")
    res = cli_runner.invoke(cli, ["config", "--interval", "7"])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0] == f"# config file: {config_file} (found)"
    rows = lines_of(res.output)
    assert rows["interval"] == "interval = 7.0  # flag"
    assert rows["caption_batch_size"] == \
        "caption_batch_size = 8  # env SUMMARIZE_VIDEO_CAPTION_BATCH_SIZE"
    assert rows["language"] == f'language = "en"  # config {config_file}'
    assert rows["formats"] == f'formats = ["json"]  # config {config_file}'
    assert rows["whisper_model"] == "whisper_model = none  # default"
    assert rows["api_key"] == f"api_key = set  # config {config_file}"
    res = cli_runner.invoke(cli, ["config", "--path"])
    assert res.exit_code == 0 and res.output == f"{config_file}\n"


@pytest.mark.no_api_key
@pytest.mark.parametrize("where", ["flag", "env SUMMARIZE_VIDEO_API_KEY", "env OPENAI_API_KEY",
                                   "config"])
def test_the_api_key_is_never_printed(config_file: Path, monkeypatch: pytest.MonkeyPatch,
                                      where: str, cli_runner: CliRunner) -> None:
    args = ["config"]
    if where == "flag":
        args += ["--api-key", f"{SENTINEL}-flag"]
    elif where.startswith("env"):
        monkeypatch.setenv(where.split()[1], f"{SENTINEL}-env")
    res = cli_runner.invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert SENTINEL not in res.output
    source = f"config {config_file}" if where == "config" else where
    assert lines_of(res.output)["api_key"] == f"api_key = set  # {source}"
    config_file.write_text("interval = 2\n", encoding="utf-8")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("SUMMARIZE_VIDEO_API_KEY", raising=False)
    res = cli_runner.invoke(cli, ["config"])
    assert lines_of(res.output)["api_key"] == "api_key = not set  # default"


def test_unknown_config_key_is_one_line_exit_2(empty_config: Path, tmp_path: Path,
                                               cli_runner: CliRunner) -> None:
    empty_config.write_text("intervall = 3\n", encoding="utf-8")
    for args in (["config"], [str(tmp_path / "x.mp4"), "--no-llm"]):
        res = cli_runner.invoke(cli, args)
        assert res.exit_code == 2
        assert res.output == (f"error: config: unknown key 'intervall' in config file "
                              f"{empty_config} (did you mean 'interval'?)\n")


@pytest.mark.parametrize(("key", "text", "reason"), [
    ("interval", "abc", "expected a number, got 'abc'"),
    ("interval", "-1", "-1.0 is not in the range x>0"),
    ("dedup_threshold", "5", "5.0 is not in the range 0<=x<=1"),
    ("sampling", "sometimes", "'sometimes' is not one of 'interval', 'scene'"),
    ("caption_batch_size", "2.5", "expected a whole number, got '2.5'"),
    ("no_llm", "maybe", "expected true or false, got 'maybe'"),
    ("formats", "pdf", "unknown output format pdf"),
])
@pytest.mark.parametrize("origin", ["env", "config"])
def test_a_bad_value_names_its_key_and_source(empty_config: Path,
                                              monkeypatch: pytest.MonkeyPatch, key: str,
                                              text: str, reason: str, origin: str,
                                              cli_runner: CliRunner) -> None:
    if origin == "env":
        monkeypatch.setenv(f"SUMMARIZE_VIDEO_{key.upper()}", text)
        source = f"env SUMMARIZE_VIDEO_{key.upper()}"
    else:
        value = {"-1": "-1", "5": "5", "2.5": "2.5"}.get(text, json.dumps(text))
        empty_config.write_text(f"{key} = {value}\n", encoding="utf-8")
        source = f"config {empty_config}"
        reason = reason.replace("'2.5'", "2.5")
    res = cli_runner.invoke(cli, ["config"])
    assert res.exit_code == 2
    assert res.output.startswith(f"error: config: bad {key} in {source}: ")
    assert reason in res.output and res.output.count("\n") == 1


def test_a_bad_secret_is_reported_without_its_value(empty_config: Path) -> None:
    empty_config.write_text("api_key = 42424242\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        resolve({}, set())
    assert "bad api_key" in str(info.value) and "42424242" not in str(info.value)


def test_values_by_field_type(empty_config: Path) -> None:
    assert convert("no_llm", "yes", text=True) is True
    assert convert("silence_gate", "off", text=True) is False
    assert convert("language", "none", text=True) is None
    assert convert("workers", "3", text=True) == 3
    assert convert("no_speech_threshold", "", text=True) is None
    assert convert("formats", "md, json", text=True) == ("md", "json")
    assert convert("output_dir", "~/out", text=False) == Path("~/out").expanduser()
    assert convert("interval", 2, text=False) == 2.0
    with pytest.raises(ValueError, match="expected a whole number"):
        convert("workers", True, text=False)
    with pytest.raises(ValueError, match="finite"):
        convert("timeout", "inf", text=True)
    env = {"SUMMARIZE_VIDEO_LANGUAGE": "", "OPENAI_BASE_URL": "http://x/v1",
           "SUMMARIZE_VIDEO_DEBUG": "1", "SUMMARIZE_VIDEO_NO_CACHE": "1"}
    assert env_values(env) == {"base_url": ("http://x/v1", "OPENAI_BASE_URL"),
                               "no_cache": ("1", "SUMMARIZE_VIDEO_NO_CACHE")}
    options, _ = resolve({}, set(), environ={**env, "SUMMARIZE_VIDEO_COMPRESSION_RATIO_"
                                             "THRESHOLD": "none"}, path=empty_config)
    assert options.compression_ratio_threshold is None and options.no_cache


def test_config_file_locations(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert config_path({"SUMMARIZE_VIDEO_CONFIG": "~/my.toml"}) == Path("~/my.toml").expanduser()
    monkeypatch.setattr(sys, "platform", "linux")
    assert config_path({"XDG_CONFIG_HOME": "/xdg"}) == Path("/xdg/summarize-video/config.toml")
    assert config_path({}) == Path.home() / ".config" / "summarize-video" / "config.toml"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert config_path({}) == (Path.home() / "Library" / "Application Support" /
                               "summarize-video" / "config.toml")
    monkeypatch.setattr(sys, "platform", "win32")
    assert config_path({"APPDATA": "C:/Users/u/AppData/Roaming"}) == Path(
        "C:/Users/u/AppData/Roaming/summarize-video/config.toml")
    assert load_config(tmp_path / "absent.toml") == {}
    with pytest.raises(ConfigError, match="not found"):
        resolve({}, set(), environ={"SUMMARIZE_VIDEO_CONFIG": str(tmp_path / "absent.toml")})


def test_config_prices_reach_the_price_table(config_file: Path) -> None:
    prices = load_prices(config_file)  # option keys beside the table are the loader's
    assert prices["test-model"].input_per_mtok == 1.0
    config_file.write_text(CONFIG.replace("input_per_mtok = 1.0", "input_per_mtok = -1"))
    with pytest.raises(ConfigError, match=re.escape('prices."test-model".input_per_mtok')):
        resolve({}, set())


@pytest.mark.no_api_key
def test_summarize_uses_the_config_file(config_file: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch,
                                        tiny_models: dict[str, Path], chat_server: Any,
                                        cli_runner: CliRunner) -> None:
    """The models, the output folder and the LLM come from the file and the environment;
    its price is used; its API key reaches the server and no file."""
    out = tmp_path / "out"
    own = "\n".join([
        f'caption_model = "{tiny_models["smolvlm"]}"',
        f'whisper_model = "{tiny_models["whisper"]}"',
        "temperature_increment = 0", "dedup_threshold = 0", "compression_ratio_threshold = 0",
        'device = "cpu"', f'output_dir = "{out}"', 'llm_model = "test-model"',
        f'base_url = "{chat_server.base_url}"', ""])
    config_file.write_text(CONFIG.replace('sampling = "scene"\n', own), encoding="utf-8")
    monkeypatch.setenv("SUMMARIZE_VIDEO_INTERVAL", "2")
    clip = make_clip(tmp_path / "talk.mp4", seconds=4.0, fps=10)
    res = cli_runner.invoke(cli, [str(clip)])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["talk.summary.json"]
    raw = (out / "talk.summary.json").read_text(encoding="utf-8")
    assert SENTINEL not in raw
    data = json.loads(raw)
    assert [c["t"] for c in data["captions"]] == [0.0, 2.0]
    settings = data["provenance"]["settings"]
    assert settings["interval"] == 2.0 and settings["language"] == "en"
    assert settings["compression_ratio_threshold"] is None and "api_key" not in settings
    assert data["cost"]["cost_usd"] is not None and data["cost"]["cost_usd"] > 0
    assert chat_server.requests[0]["model"] == "test-model"
    assert chat_server.request_headers[0]["authorization"] == f"Bearer {SENTINEL}-config"


def test_the_library_reads_no_config(config_file: Path) -> None:
    assert Options().interval == 5.0 and Options.from_kwargs().language is None
