"""Full-text search over the ledger: what is indexed, the CLI and Python forms, bad queries."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

from summarize_video.catalog import ledger as ledger_module
from summarize_video.catalog.ledger import Ledger
from summarize_video.catalog.search import Hit, QueryError, search
from summarize_video.cli.batch_view import print_hits
from summarize_video.cli.main import cli
from summarize_video.pipeline.results import Result, VideoInfo
from summarize_video.reasoning.answers import Chapter, KeyMoment
from summarize_video.reasoning.registry import Usage
from summarize_video.timeline import Caption, format_timestamp
from summarize_video.transcription.base import Segment
from tests.clips import make_clip
from tests.support import cli_args

REPLY = "A short test summary. Key moments: 00:00 start."


def result_for(path: Path, *, summary: str | None = "The talk explains caching.",
               captions: tuple[tuple[float, str], ...] = (), speech: tuple[tuple[float, str], ...]
               = ()) -> Result:
    return Result(
        video=VideoInfo(path=str(path), duration_s=60.0, width=320, height=240, fps=25.0,
                        has_audio=True),
        settings={"interval_s": 5.0}, language="en", summary=summary,
        captions=tuple(Caption(t, text) for t, text in captions),
        transcript=tuple(Segment(t, t + 2, text) for t, text in speech),
        usage=Usage(prompt_tokens=1, completion_tokens=1), timings_s={},
        key_moments=(KeyMoment(12.0, "the cache diagram appears"),),
        chapters=(Chapter(30.0, "Eviction policies"),),
    )


def record(book: Ledger, path: Path, result: Result | None, status: str = "done") -> None:
    book.record(path, content_hash="h" + path.name, settings_fp="fp", status=status,
                result=result, outputs=[])


def test_every_kind_of_text_is_found_with_its_file_and_time(tmp_path: Path) -> None:
    talk, other = tmp_path / "talk.mp4", tmp_path / "other.mp4"
    with Ledger(tmp_path / "ledger.sqlite3") as book:
        record(book, talk, result_for(
            talk, captions=((0.0, "a whiteboard"), (5.0, "a whiteboard"), (10.0, "a red graph")),
            speech=((3.5, "caches fail under load"), (65.0, "thank you all"))))
        record(book, other, result_for(other, summary="Nothing about that.",
                                       captions=((2.0, "a whiteboard with a zebra"),)))
        found = {(h.path, h.t, h.kind) for h in search("whiteboard", ledger=book)}
        # Identical consecutive captions are one passage, at the first one's time.
        assert found == {(str(talk), 0.0, "caption"), (str(other), 2.0, "caption")}
        (hit,) = search("load", ledger=book)
        assert (hit.path, hit.t, hit.kind) == (str(talk), 3.5, "transcript")
        assert hit.snippet == "caches fail under load" and hit.marks == ((18, 22),)
        assert [(h.path, h.t, h.kind) for h in search("caching", ledger=book)] == [
            (str(talk), None, "summary")]
        assert [h.kind for h in search("diagram", ledger=book)] == ["moment", "moment"]
        assert {h.t for h in search("eviction", ledger=book)} == {30.0}
        assert len(search("whiteboard OR caching OR load", limit=2, ledger=book)) == 2
        assert search('"red graph"', ledger=book)[0].t == 10.0
        assert search("zeb*", ledger=book)[0].path == str(other)
        # Redoing a file replaces its text; a failure without a result removes it.
        record(book, talk, result_for(talk, summary="Now about queues."))
        assert search("caching", ledger=book) == [] and search("queues", ledger=book)
        record(book, other, None, status="failed")
        assert search("zebra", ledger=book) == []
    # The path form opens the ledger and closes it again.
    assert search("queues", ledger=tmp_path / "ledger.sqlite3")[0].path == str(talk)


def test_bad_queries_are_one_line_errors(tmp_path: Path, cli_runner: CliRunner) -> None:
    db = tmp_path / "ledger.sqlite3"
    with Ledger(db) as book:
        record(book, tmp_path / "a.mp4", result_for(tmp_path / "a.mp4"))
    # What people type is never a syntax error (see test_cli_habits); a query without words
    # is a one-line error.
    for query in ("   ", "++ --", '"'):
        with pytest.raises(QueryError) as info:
            search(query, ledger=db)
        assert info.value.exit_code == 2 and "\n" not in info.value.one_line()
    res = cli_runner.invoke(cli, ["search", "--ledger", str(db), "--", "-- +"])
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == [
        "error: search: no words to search for in '-- +' (search for words, \"a phrase\", "
        "prefix*, OR, NOT)"]
    res = cli_runner.invoke(cli, ["search", "x", "--ledger", str(tmp_path / "none.sqlite3")])
    assert res.exit_code == 2 and "no ledger at" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "none.sqlite3").exists()
    res = cli_runner.invoke(cli, ["search", "absent", "--ledger", str(db)])
    assert res.exit_code == 0 and "no matches for 'absent'" in res.output


def test_without_fts5_search_falls_back_to_substrings(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(ledger_module, "fts5_available", lambda: False)
    talk = tmp_path / "talk.mp4"
    with caplog.at_level(logging.WARNING), Ledger(tmp_path / "ledger.sqlite3") as book:
        assert not book.has_fts
        record(book, talk, result_for(talk, speech=((3.5, "Caches fail under load"),)))
        hits = search('"caches" fail', ledger=book)
    assert [(h.path, h.t, h.kind) for h in hits] == [(str(talk), 3.5, "transcript")]
    assert hits[0].marks == ((0, 6), (7, 11))
    assert "no FTS5" in caplog.text and "substring" in caplog.text
    # A Python with FTS5 indexes what was stored without it.
    monkeypatch.undo()
    with Ledger(tmp_path / "ledger.sqlite3") as book:
        assert book.has_fts and search("caches", ledger=book)[0].t == 3.5


def test_terminal_output_is_a_table_with_the_matches_marked() -> None:
    buffer = io.StringIO()
    hits = [Hit("/v/talk.mp4", 65.0, "transcript", "caches fail under load", ((18, 22),)),
            Hit("/v/talk.mp4", None, "summary", "about caching")]
    print_hits(hits, Console(file=buffer, force_terminal=True, width=120))
    text = buffer.getvalue()
    assert "01:05" in text and "--:--" in text and "transcript" in text
    assert "\x1b[1;33mload" in text  # the match in bold yellow


def test_search_finds_words_of_a_summarized_clip(tmp_path: Path, tiny_models: dict[str, Path],
                                                 chat_server: Any, cli_runner: CliRunner) -> None:
    clip = make_clip(tmp_path / "talk.mp4", seconds=3.0, fps=10, audio=True)
    out = tmp_path / "out"
    res = cli_runner.invoke(cli, [str(clip), *cli_args(tiny_models, out), "--interval", "1",
                                   "--base-url", chat_server.base_url])
    assert res.exit_code == 0, res.output
    data = json.loads((out / "talk.summary.json").read_text(encoding="utf-8"))
    assert data["summary"] == REPLY and data["captions"] and data["transcript"]

    res = cli_runner.invoke(cli, ["search", "short"])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines() == [f"{clip}  --:--  summary  {REPLY}"]

    pieces = [("caption", c["t"], c["text"]) for c in data["captions"]]
    pieces += [("transcript", s["start"], s["text"]) for s in data["transcript"]]
    for kind, t, text in (pieces[0], pieces[-1]):
        word = max(re.findall(r"[A-Za-z]{3,}", text), key=len)
        hits = search(f'"{word}"', limit=100)
        assert (str(clip), t, kind) in {(h.path, h.t, h.kind) for h in hits}, (word, hits)
        res = cli_runner.invoke(cli, ["search", f'"{word}"', "--limit", "100"])
        assert f"{clip}  {format_timestamp(t)}  {kind}  " in res.output


def test_search_is_exported_as_a_function() -> None:
    import summarize_video
    import summarize_video.catalog.search  # the module must not shadow the function

    assert summarize_video.search is search and summarize_video.Hit is Hit
    assert {"search", "summarize_many", "Hit"} <= set(summarize_video.__all__)
