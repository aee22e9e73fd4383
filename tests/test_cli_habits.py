"""CLI habits of whisper, llm and yt-dlp: the result as JSON alone on stdout (``--json``), short
flags (``-o``, ``-f``, ``-m``), ``summarize-video models``, a search that takes what people
type and a table that fits 80 columns, and shell completion."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

from summarize_video.captioning.registry import CAPTIONERS
from summarize_video.catalog.ledger import Ledger
from summarize_video.catalog.search import Hit, fts_query, search
from summarize_video.cli.batch_view import print_hits
from summarize_video.cli.main import cli
from summarize_video.pipeline.results import Result, VideoInfo
from summarize_video.reasoning.registry import REASONERS, Usage
from summarize_video.timeline import Caption
from summarize_video.transcription.base import Segment
from summarize_video.transcription.registry import TRANSCRIBERS
from tests.clips import make_clip
from tests.support import run_console

pytestmark = pytest.mark.usefixtures("clean_llm_env")


def model_flags(tiny: dict[str, Path]) -> list[str]:
    return ["--caption-model", str(tiny["smolvlm"]), "--whisper-model", str(tiny["whisper"]),
            "--temperature-increment", "0", "--device", "cpu", "--dedup-threshold", "0",
            "--interval", "1"]


def test_json_is_the_whole_result_alone_on_stdout(tmp_path: Path, tiny_models: dict[str, Path],
                                                  chat_server: Any) -> None:
    clips = [make_clip(tmp_path / f"{name}.mp4", seconds=2.0, fps=10, audio=True)
             for name in ("one", "two")]
    out = tmp_path / "out"
    run = run_console(*map(str, clips), *model_flags(tiny_models), "--base-url",
                      chat_server.base_url, "-o", str(out), "-f", "json,txt", "-m", "my-model",
                      "--json")
    assert run.returncode == 0, run.stderr[-3000:]
    # One line of JSON per file on stdout, the same as its .summary.json; nothing else there.
    lines = run.stdout.splitlines()
    assert len(lines) == 2 and run.stdout.endswith("\n")
    docs = [json.loads(line) for line in lines]
    assert sorted(Path(d["video"]["path"]).name for d in docs) == ["one.mp4", "two.mp4"]
    for doc in docs:
        stem = Path(doc["video"]["path"]).stem
        written = json.loads((out / f"{stem}.summary.json").read_text(encoding="utf-8"))
        assert doc == written and doc["summary"] == chat_server.reply
        assert doc["settings"]["llm_model"] == "my-model"
    assert sorted(p.name for p in out.iterdir()) == ["one.summary.json", "one.summary.txt",
                                                    "two.summary.json", "two.summary.txt"]
    assert {r["model"] for r in chat_server.requests} == {"my-model"}
    assert "done:" in run.stderr and chat_server.reply not in run.stderr
    # -q silences the messages, never the result.
    run = run_console(str(clips[0]), *model_flags(tiny_models), "--base-url",
                      chat_server.base_url, "-o", str(out), "-m", "my-model", "--json", "-q",
                      "--force")
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout)["summary"] == chat_server.reply and "done:" not in run.stderr


@pytest.mark.no_api_key
def test_models_lists_each_stage_and_what_a_run_would_use(cli_runner: CliRunner) -> None:
    res = cli_runner.invoke(cli, ["models", "--json", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["device"] == "cpu"
    stages = report["stages"]
    for stage, registry in (("captioner", CAPTIONERS), ("transcriber", TRANSCRIBERS),
                            ("reasoner", REASONERS)):
        assert [b["name"] for b in stages[stage]["backends"]] == list(registry)
    for stage, registry in (("captioner", CAPTIONERS), ("transcriber", TRANSCRIBERS)):
        assert [b["installed"] for b in stages[stage]["backends"]] == [
            cls.available("cpu") for cls in registry.values()]
    assert stages["captioner"]["model"] == "HuggingFaceTB/SmolVLM-256M-Instruct"
    assert stages["transcriber"]["model"] == "base"  # the CPU default
    # No key and no server: the local model; with a server, that server's model.
    assert (stages["reasoner"]["backend"], stages["reasoner"]["model"]) == (
        "transformers", "Qwen/Qwen2.5-0.5B-Instruct")
    res = cli_runner.invoke(cli, ["models", "--json", "--base-url", "http://127.0.0.1:9/v1",
                                  "-m", "llama3.2", "--whisper-model", "tiny.en",
                                  "--transcriber", "whisper"])
    stages = json.loads(res.stdout)["stages"]
    assert (stages["reasoner"]["backend"], stages["reasoner"]["model"]) == ("openai",
                                                                           "llama3.2")
    assert (stages["transcriber"]["backend"], stages["transcriber"]["model"]) == (
        "whisper", "tiny.en")
    res = cli_runner.invoke(cli, ["models", "--api-key", "sk-not-shown-4242"])
    assert "openai" in res.output and "sk-not-shown-4242" not in res.output
    res = cli_runner.invoke(cli, ["models", "--no-llm"])
    assert res.exit_code == 0, res.output
    assert "device:" in res.output and "faster-whisper" in res.output
    assert "--no-llm" in res.output
    res = cli_runner.invoke(cli, ["models", "--json", "--captioner", "nope"])
    captioner = json.loads(res.stdout)["stages"]["captioner"]
    assert captioner["backend"] is None and "unknown captioner 'nope'" in captioner["note"]


def result_for(path: Path, summary: str, captions: tuple[tuple[float, str], ...]) -> Result:
    return Result(
        video=VideoInfo(path=str(path), duration_s=60.0, width=320, height=240, fps=25.0,
                        has_audio=True),
        settings={"interval_s": 5.0}, language="en", summary=summary,
        captions=tuple(Caption(t, text) for t, text in captions),
        transcript=(Segment(3.0, 5.0, "don't use C++ for a caption-then-reason tool"),),
        usage=Usage(prompt_tokens=1, completion_tokens=1), timings_s={})


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    db = tmp_path / "ledger.sqlite3"
    with Ledger(db) as book:
        for name, summary, captions in (
                ("talk.mp4", "The talk explains caching under load.",
                 ((0.0, "a whiteboard"), (10.0, "a red graph"))),
                ("other.mp4", "Nothing about that: what's new in queues?",
                 ((2.0, "a whiteboard with a zebra"),))):
            path = tmp_path / name
            book.record(path, content_hash="h" + name, settings_fp="fp", status="done",
                        result=result_for(path, summary, captions), outputs=[])
    return db


def found(query: str, ledger: Path) -> set[tuple[str, float | None]]:
    return {(Path(h.path).name, h.t) for h in search(query, ledger=ledger)}


def test_search_takes_what_people_type(ledger: Path, cli_runner: CliRunner) -> None:
    assert found("caption-then-reason", ledger) == {("talk.mp4", 3.0), ("other.mp4", 3.0)}
    assert found("C++", ledger) == {("talk.mp4", 3.0), ("other.mp4", 3.0)}
    assert found("don't", ledger) == {("talk.mp4", 3.0), ("other.mp4", 3.0)}
    assert found("caching AND load", ledger) == {("talk.mp4", None)}
    assert found("caching and load", ledger) == set()  # lower-case "and" is a word
    assert found("what's new?", ledger) == {("other.mp4", None)}
    assert found('"red graph', ledger) == {("talk.mp4", 10.0)}  # an unclosed quote
    assert found('"graph red"', ledger) == set()  # a phrase keeps its order
    assert found("zeb* OR graph", ledger) == {("other.mp4", 2.0), ("talk.mp4", 10.0)}
    assert found("whiteboard NOT zebra", ledger) == {("talk.mp4", 0.0)}
    assert found("(whiteboard) summary:x AND", ledger) == set()
    assert found("whiteboard,", ledger) == {("talk.mp4", 0.0), ("other.mp4", 2.0)}
    assert fts_query('say "hi there" to-day* AND OR NOT') == '"say" "hi there" "to day"*'
    for query in ("caching AND", "a-b-c", "NEAR(x", "kind:caption", "^start", "-x", "*"):
        res = cli_runner.invoke(cli, ["search", query, "--ledger", str(ledger)])
        assert res.exit_code in (0, 2) and "syntax" not in res.output, (query, res.output)
    res = cli_runner.invoke(cli, ["search", "--ledger", str(ledger), "++ --"])
    assert res.exit_code == 2 and "no words to search for" in res.output


def plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_search_table_fits_80_columns() -> None:
    path = ("/home/someone/videos/conference-2026/day-two/a-very-long-talk-name-about-"
            "distributed-caching-systems.mp4")
    snippet = "…and then the caches fail under load when the eviction policy is wrong " * 3
    buffer = io.StringIO()
    print_hits([Hit(path, 3725.0, "transcript", snippet, ((18, 24),)),
                Hit("/v/a.mp4", None, "summary", "short")],
               Console(file=buffer, force_terminal=True, width=80, soft_wrap=True))
    lines = plain(buffer.getvalue()).splitlines()
    assert lines and max(len(line) for line in lines) <= 80
    # The stamp and the kind are whole, on the first line of their hit.
    first = next(line for line in lines if "1:02:05" in line)
    assert "transcript" in first
    # The snippet gets more room than the path, and neither loses a character.
    header = next(line for line in lines if "snippet" in line)
    snippet_at, time_at = header.index("snippet"), first.index("1:02:05")
    assert 80 - snippet_at > time_at
    rows = [line for line in lines if line.strip() and "─" not in line and line != header]
    assert "".join(line[:time_at].strip() for line in rows) == path + "/v/a.mp4"
    text = " ".join(line[snippet_at:].strip() for line in rows)
    assert " ".join(snippet.split()) in " ".join(text.split())


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shell_completion_script(shell: str) -> None:
    run = run_console(env={"_SUMMARIZE_VIDEO_COMPLETE": f"{shell}_source"})
    assert run.returncode == 0, run.stderr
    assert "_SUMMARIZE_VIDEO_COMPLETE" in run.stdout and "summarize-video" in run.stdout
    assert f"{shell}_complete" in run.stdout
