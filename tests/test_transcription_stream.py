"""Transcription in bounded pieces: chunked against whole, cuts, language, flags, the stage."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from summarize_video.errors import ConfigError
from summarize_video.media.audio import AudioClip, iter_audio, load_audio
from summarize_video.options import Options
from summarize_video.pipeline.fingerprint import transcript_key
from summarize_video.pipeline.stages import run_transcript
from summarize_video.transcription import gated
from summarize_video.transcription.base import (
    FLAG_MUSIC_OR_NOISE,
    FLAG_NO_SPEECH,
    Segment,
    Transcript,
)
from summarize_video.transcription.cutting import pieces
from summarize_video.transcription.gated import REGION_GAP
from summarize_video.transcription.gated import merge_parts as _merge
from summarize_video.transcription.silence import speech_regions, splice
from summarize_video.transcription.whisper import WhisperTranscriber
from tests.support import BURSTS, RATE, FakeModel, in_silence, signal

PAD = 0.3 + 0.031  # the gate's padding around sound, and a frame


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from summarize_video.testing.tiny_whisper import build_tiny_whisper

    return build_tiny_whisper(tmp_path_factory.mktemp("whisper") / "tiny.pt")


def whisper(model: Path, **kwargs: Any) -> WhisperTranscriber:
    # As in test_transcription: the tiny model's repeated word would trip the repetition guard,
    # and the generated tones are sound (the energy gate's), not speech (Silero's).
    kwargs.setdefault("vad", "energy")
    return WhisperTranscriber(model=str(model), device="cpu", temperature_increment=0.0,
                              compression_ratio_threshold=None, **kwargs)


def write_wav(path: Path, samples: np.ndarray) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=RATE, layout="mono")
        pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
        for start in range(0, pcm.size, 1024):
            frame = av.AudioFrame.from_ndarray(pcm[None, start:start + 1024], format="s16",
                                               layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = RATE, start, Fraction(1, RATE)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


class Spy:
    """Records the pieces ``transcribe_stream`` cuts, and the audio whisper is given."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, transcriber: WhisperTranscriber) -> None:
        self.pieces: list[AudioClip] = []
        self.runs: list[np.ndarray] = []
        self.runs_results: list[dict[str, Any]] = []

        def cut(chunks: Any, **kwargs: Any) -> Any:
            for piece in pieces(chunks, **kwargs):
                self.pieces.append(piece)
                yield piece

        monkeypatch.setattr(gated, "pieces", cut)
        transcriber.load()
        model = transcriber.backend._model
        run = model.transcribe

        def whisper_run(audio: np.ndarray, **kwargs: Any) -> Any:
            self.runs.append(audio)
            self.runs_results.append(run(audio, **kwargs))
            return self.runs_results[-1]

        monkeypatch.setattr(model, "transcribe", whisper_run)


def inside_a_burst(t: float) -> bool:
    return any(a - PAD <= t <= b + PAD for a, b in BURSTS)


def test_chunked_against_whole_on_tone_bursts(tiny_model: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_wav(tmp_path / "bursts.wav", signal(20.0, BURSTS))
    whole = whisper(tiny_model, chunk_s=1000.0).transcribe(load_audio(path))
    chunked_transcriber = whisper(tiny_model, chunk_s=6.0)
    spy = Spy(monkeypatch, chunked_transcriber)
    chunked = chunked_transcriber.transcribe_stream(iter_audio(path, chunk_s=6.0))
    assert len(spy.pieces) == 4
    for piece in spy.pieces[:-1]:  # every cut in a silence between bursts
        assert in_silence(piece.offset + piece.duration, BURSTS)
    assert len(spy.runs) == 4 and all(run.size <= 6.0 * RATE for run in spy.runs)
    assert chunked.language == whole.language and chunked.language_detected
    assert whole.segments and chunked.segments and chunked.flags == whole.flags == ()
    starts = [s.start for s in chunked.segments]
    assert starts == sorted(starts)
    for s in (*whole.segments, *chunked.segments):
        assert inside_a_burst(s.start) and inside_a_burst(s.end)
    # transcribe() on the whole clip cuts the same chunks: the same transcript.
    assert chunked_transcriber.transcribe(load_audio(path)) == chunked


def test_sparse_speech_of_several_pieces_goes_to_whisper_together(
        tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bursts = [(2.0 + 5 * i, 3.0 + 5 * i) for i in range(8)]  # 1 s of sound every 5 s
    transcriber = whisper(tiny_model, chunk_s=6.0)
    spy = Spy(monkeypatch, transcriber)
    transcript = transcriber.transcribe(AudioClip(signal(40.0, bursts), RATE, 100.0))
    assert len(spy.pieces) == 7 and len(spy.runs) == 3  # 1.6-3.7 s of speech each
    assert all(run.size <= 6.0 * RATE for run in spy.runs)
    assert len(transcript.segments) >= 3
    for s in transcript.segments:  # mapped back through the joined pieces, on the timeline
        assert any(a - PAD <= s.start - 100 <= s.end - 100 <= b + PAD for a, b in bursts), s


def test_a_cut_inside_continuous_sound_still_transcribes(
        tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    t = np.arange(14 * RATE) / RATE
    tone = AudioClip((0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), RATE, 5.0)
    transcriber = whisper(tiny_model, chunk_s=6.0)
    spy = Spy(monkeypatch, transcriber)
    transcript = transcriber.transcribe(tone)
    assert len(spy.pieces) == len(spy.runs) == 3
    assert transcript.segments and transcript.flags == ()
    for piece in spy.pieces:  # every piece has its text, on the timeline
        assert any(piece.offset - 1e-3 <= s.start <= piece.offset + piece.duration
                   for s in transcript.segments)
    assert all(5.0 <= s.start <= s.end <= 19.0 + 1e-3 for s in transcript.segments)


def test_audio_shorter_than_a_chunk_is_transcribed_as_before(
        tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_wav(tmp_path / "short.wav", signal(12.0, BURSTS[:3]))
    transcriber = whisper(tiny_model)
    spy = Spy(monkeypatch, transcriber)
    made = run_transcript(path, transcriber, lambda *a: None)
    streamed, timings = made.value, made.timings
    assert set(timings) == {"audio", "transcribe"} and min(timings.values()) >= 0
    clip = load_audio(path)
    assert transcriber.transcribe(clip) == streamed
    # As before streaming: one whisper run on the clip's regions joined, times mapped back.
    joined, spliced = splice(clip.samples, RATE, speech_regions(clip.samples, RATE),
                             gap=REGION_GAP)
    assert len(spy.runs) == 2 and all(np.array_equal(run, joined) for run in spy.runs)
    result = spy.runs_results[0]
    assert result["segments"] and streamed.language == result["language"]
    assert [(s.start, s.end, s.text) for s in streamed.segments] == [
        (round(spliced.to_original(r["start"]) + clip.offset, 3),
         round(spliced.to_original(r["end"], is_end=True) + clip.offset, 3), r["text"].strip())
        for r in result["segments"]]


class RecordingModel(FakeModel):
    def __init__(self) -> None:
        super().__init__([{"start": 0.0, "end": 1.0, "text": " Hallo."}])
        self.languages: list[str | None] = []

    def transcribe(self, audio: np.ndarray, **kwargs: Any) -> dict[str, Any]:
        self.languages.append(kwargs["language"])
        return super().transcribe(audio, **kwargs)


@pytest.mark.parametrize(("given", "sent"), [(None, [None, "de", "de"]), ("en", ["en"] * 3)])
def test_detected_language_is_passed_to_later_runs(given: str | None,
                                                   sent: list[str | None]) -> None:
    transcriber = WhisperTranscriber(vad="energy", model="base", device="cpu", language=given,
                                     chunk_s=6.0)
    transcriber.backend._model = model = RecordingModel()
    transcriber.backend._language = given
    silence_first = signal(24.0, [(7.0, 9.0), (11.0, 12.0), (15.0, 17.0), (20.0, 22.0)])
    transcript = transcriber.transcribe(AudioClip(silence_first, RATE))
    # Pieces 0-5 s (silent: whisper not run), 5-10, 10-17.65 and 17.65-24 s with 2.6, 4.7
    # and 2.6 s of joined speech: no two fit in one 6 s run.
    assert model.languages == sent
    assert transcript.language == (given or "de")
    assert transcript.language_detected is (given is None)
    assert len(transcript.segments) == 3


def test_merge_flags_language_and_dropped() -> None:
    silent = Transcript((), None, flags=(FLAG_NO_SPEECH,))
    music = Transcript((), "en", dropped=2, flags=(FLAG_MUSIC_OR_NOISE,), language_detected=True)
    speech = Transcript((Segment(1.0, 2.0, "Hallo"),), "de", dropped=1, language_detected=True)
    assert _merge([]) == Transcript.empty()
    assert _merge([silent, silent]).flags == (FLAG_NO_SPEECH,)
    assert _merge([silent, music]) == Transcript((), "en", 2, (FLAG_MUSIC_OR_NOISE,), True)
    assert _merge([music, silent, speech]) == Transcript(speech.segments, "de", 3, (), True)
    for one in (silent, music, speech, Transcript.empty()):
        assert _merge([one]) == one


def test_run_transcript_streams_when_it_can(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav", signal(3.0, [(0.5, 2.0)]))

    class Streaming:
        model_id, chunk_s = "fake", 1.0

        def transcribe(self, audio: AudioClip) -> Transcript:
            raise AssertionError("the stage should stream")

        def transcribe_stream(self, chunks: Any) -> Transcript:
            self.chunks = list(chunks)
            return Transcript.empty()

    class Whole:
        model_id = "fake"

        def transcribe(self, audio: AudioClip) -> Transcript:
            self.audio = audio
            return Transcript.empty()

    streaming, whole = Streaming(), Whole()
    made = run_transcript(path, streaming, lambda *a: None)
    assert [c.duration for c in streaming.chunks] == [1.0, 1.0, 1.0]
    assert set(made.timings) == {"audio", "transcribe"}
    run_transcript(path, whole, lambda *a: None)
    assert np.array_equal(whole.audio.samples, load_audio(path).samples)
    assert transcript_key(Options(), streaming)["chunk_s"] == 1.0  # part of the cache key


def test_chunk_length_must_be_positive() -> None:
    with pytest.raises(ConfigError):
        WhisperTranscriber(chunk_s=0)
