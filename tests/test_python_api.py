"""The Python API as the README documents it: stages of one's own with one method,
``summarize(..., formats=, output_dir=)`` writing what the CLI writes, and ``ask`` finding the
earlier run's captions and transcript without its model flags."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import summarize_video
from summarize_video import Captioner, Completion, ReasonerError, Segment, Transcript
from summarize_video.cli.main import cli
from summarize_video.reasoning.base import Usage
from summarize_video.testing.chat_server import ChatServer
from tests.clips import make_clip
from tests.support import cli_args

pytestmark = pytest.mark.usefixtures("clean_llm_env")

ANSWER = json.dumps({"summary": "A clip of flat colours.",
                     "key_moments": [{"t": "00:01", "text": "the colour changes"}]})


class Colours(Captioner):
    """A captioner of one's own: subclasses the protocol, writes only its method."""

    def caption(self, frames: Sequence[Any], contexts: Any = None) -> list[str]:
        return [f"a flat colour, frame {i}" for i, _ in enumerate(frames)]


class Words:
    """A transcriber of one's own that subclasses nothing: one method."""

    def transcribe(self, audio: Any) -> Transcript:
        return Transcript((Segment(0.5, 1.5, "hello there"),), "en")


class Canned:
    """A reasoner of one's own that subclasses nothing: one method, messages only."""

    def __init__(self, text: str = ANSWER) -> None:
        self.text = text

    def complete(self, messages: Sequence[dict[str, str]]) -> Completion:
        return Completion(self.text, Usage(10, 5), "canned", "stop")


class Broken:
    def complete(self, messages: Sequence[dict[str, str]]) -> Completion:
        raise ReasonerError("the reasoner of one's own is down")


@pytest.fixture
def clip2(tmp_path: Path) -> Path:
    return make_clip(tmp_path / "talk.mp4", seconds=2.0, fps=10)


def test_stages_of_ones_own_need_only_their_method(clip2: Path) -> None:
    result = summarize_video.summarize(clip2, captioner=Colours(), transcriber=Words(),
                                       reasoner=Canned(), interval=1.0, dedup_threshold=0.0)
    assert result.summary == "A clip of flat colours."
    assert result.captions and result.captions[0].text.startswith("a flat colour")
    assert [s.text for s in result.transcript] == ["hello there"]
    # The model ids default to the class names, in settings and provenance.
    assert result.settings["caption_model"] == "Colours"
    assert result.settings["whisper_model"] == "Words"
    assert result.settings["llm_model"] == "Canned"
    assert result.provenance["models"]["captioner"]["model_id"] == "Colours"
    assert Colours().model_id == "Colours"
    # Cached under those ids: the second run reads them back.
    again = summarize_video.summarize(clip2, captioner=Colours(), transcriber=Words(),
                                      reasoner=Canned(), interval=1.0, dedup_threshold=0.0)
    assert again.cache["captions"] == again.cache["transcript"] == "hit"


def test_an_own_model_id_wins_over_the_default() -> None:
    class Named(Captioner):
        def __init__(self) -> None:
            self.model_id = "my-model-v2"

        def caption(self, frames: Sequence[Any], contexts: Any = None) -> list[str]:
            return []

    class Fixed(Colours):
        model_id = "fixed-id"

    assert Named().model_id == "my-model-v2" and Fixed().model_id == "fixed-id"


def test_summarize_writes_the_formats_it_is_given(clip2: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = summarize_video.summarize(clip2, captioner=Colours(), transcriber=Words(),
                                       reasoner=Canned(), interval=1.0, dedup_threshold=0.0,
                                       formats=("json", "md", "srt"), output_dir=out)
    assert sorted(p.name for p in out.iterdir()) == [
        "talk.captions.srt", "talk.summary.json", "talk.summary.md"]
    data = json.loads((out / "talk.summary.json").read_text(encoding="utf-8"))
    assert data["summary"] == result.summary == "A clip of flat colours."
    assert "A clip of flat colours." in (out / "talk.summary.md").read_text(encoding="utf-8")


def test_summarize_without_output_options_writes_nothing(
        clip2: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    summarize_video.summarize(clip2, captioner=Colours(), transcriber=Words(),
                              reasoner=Canned(), interval=1.0, dedup_threshold=0.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["talk.mp4"]


def test_a_failed_reasoning_step_still_writes_the_work_then_is_raised(
        clip2: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(ReasonerError, match="is down"):
        summarize_video.summarize(clip2, captioner=Colours(), transcriber=Words(),
                                  reasoner=Broken(), formats=("json",), output_dir=out,
                                  interval=1.0, dedup_threshold=0.0)
    data = json.loads((out / "talk.summary.json").read_text(encoding="utf-8"))
    assert data["summary"] is None and data["captions"] and data["transcript"]


def test_ask_finds_the_earlier_run_without_its_model_flags_and_loads_no_model(
        tmp_path: Path, tiny_models: dict[str, Path], cli_runner: CliRunner) -> None:
    # Models of the earlier run in a folder of their own, their weights spoilt once it is
    # done: any attempt to load a model afterwards fails.
    models = tmp_path / "models"
    own = {name: models / path.name for name, path in tiny_models.items()
           if name in ("smolvlm", "whisper")}
    shutil.copytree(tiny_models["smolvlm"], own["smolvlm"])
    shutil.copy2(tiny_models["whisper"], own["whisper"])
    clip = make_clip(tmp_path / "talk.mp4", seconds=2.0, fps=10)
    with ChatServer(reply=ANSWER) as srv:
        first = cli_runner.invoke(cli, [str(clip), *cli_args(own, tmp_path / "out"),
                                        "--base-url", srv.base_url, "--format", "json"])
        assert first.exit_code == 0, first.output
        for weights in [own["whisper"], *own["smolvlm"].glob("*.safetensors")]:
            weights.write_bytes(b"spoilt")
        res = cli_runner.invoke(cli, ["ask", str(clip), "What colour is it?",
                                      "--base-url", srv.base_url])
        assert res.exit_code == 0, res.output
        assert "A clip of flat colours." in res.output
        result = summarize_video.ask(clip, "Which colour?", base_url=srv.base_url)
        assert "What colour is it?" in json.dumps(srv.requests[1])
    assert result.cache["captions"] == result.cache["transcript"] == "hit"
    assert set(result.cache.values()) == {"hit"}  # screen text too, when read
    assert result.summary == "A clip of flat colours."
    assert result.settings["caption_model"] == str(own["smolvlm"])
