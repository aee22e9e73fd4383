"""Cutting long audio into pieces for whisper: cuts in silences, bounded carry, exact offsets."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from summarize_video.media.audio import AudioClip, iter_audio
from summarize_video.transcription.cutting import cut_point, pieces, split_clip
from summarize_video.transcription.silence import FRAME_SECONDS
from tests.support import BURSTS, RATE, in_silence, media_file, signal


def chunked(x: np.ndarray, chunk_s: float, offset: float = 0.0) -> list[AudioClip]:
    return list(split_clip(AudioClip(x, RATE, offset), chunk_s))


def test_cut_point_is_in_the_last_silence_of_the_window() -> None:
    x = signal(9.0, [(0.5, 2.0), (3.5, 5.0), (6.5, 8.8)])
    # Silence 5.0-6.5: regions padded by 0.3 s leave 5.3-6.2, cut in its middle.
    assert cut_point(x, RATE, window=5.0) == pytest.approx(5.75, abs=FRAME_SECONDS)
    # Ending in silence: cut at most CUT_GUARD (1 s) before the end, carry only that.
    y = signal(9.0, [(0.5, 2.0), (3.5, 5.0)])
    assert cut_point(y, RATE, window=5.0) == pytest.approx(8.0, abs=1e-9)
    # Short window: the 5.3-6.2 silence is out of reach; the cut never goes before it.
    assert cut_point(x, RATE, window=2.0) >= 7.0


def test_cut_point_without_silence_takes_a_pause_not_a_click() -> None:
    t = np.arange(8 * RATE) / RATE
    x = (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    x[round(5.0 * RATE):round(5.06 * RATE)] *= 0.01  # 60 ms, deep: a stop consonant
    x[round(6.5 * RATE):round(6.71 * RATE)] *= 0.1  # 210 ms, shallower: a pause
    assert 6.5 <= cut_point(x, RATE, window=4.0) <= 6.71
    # Out of reach: still inside the window.
    assert 6.5 <= cut_point(x, RATE, window=1.5) <= 8.0


def test_pieces_keep_every_sample_once_and_cut_in_silences() -> None:
    x = signal(20.0, BURSTS)
    chunks = chunked(x, 6.0, offset=2.5)
    out = list(pieces(chunks, max_carry=3.0))
    assert len(out) == 4
    assert np.array_equal(np.concatenate([p.samples for p in out]), x)
    position = 2.5
    for piece in out:
        assert piece.offset == pytest.approx(position, abs=1e-9)
        position += piece.duration
    for piece in out[:-1]:
        assert in_silence(piece.offset + piece.duration - 2.5, BURSTS)
    # The carry is bounded: each cut lies in the last 3 s of the chunk it ended.
    for i, piece in enumerate(out[:-1]):
        assert 6.0 * (i + 1) - 3.0 <= piece.offset + piece.duration - 2.5 <= 6.0 * (i + 1)


def test_a_single_chunk_comes_out_unchanged() -> None:
    clip = AudioClip(signal(5.0, [(1.0, 2.0)]), RATE, 1.25)
    (only,) = pieces([clip])
    assert only is clip
    assert list(pieces([])) == [] and list(pieces([AudioClip.empty()])) == []


def test_continuous_sound_is_cut_anyway() -> None:
    t = np.arange(14 * RATE) / RATE
    x = (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    out = list(pieces(chunked(x, 6.0), max_carry=2.0))
    assert len(out) == 3
    assert np.array_equal(np.concatenate([p.samples for p in out]), x)
    assert all(p.duration <= 8.0 for p in out)


def test_chunks_that_do_not_follow_each_other_are_not_joined() -> None:
    x = signal(12.0, [(1.0, 5.5), (6.5, 11.0)])
    a, b = chunked(x, 6.0)
    moved = AudioClip(b.samples, RATE, b.offset + 10.0)  # 10 s later on the timeline
    out = list(pieces([a, moved]))
    assert [round(p.offset, 6) for p in out][-1] == moved.offset
    assert out[-1].samples is moved.samples
    assert sum(p.samples.size for p in out) == x.size


def test_split_clip_gives_views_with_offsets() -> None:
    clip = AudioClip(np.arange(10 * RATE, dtype=np.float32), RATE, 3.0)
    parts = list(split_clip(clip, 4.0))
    assert [p.duration for p in parts] == [4.0, 4.0, 2.0]
    assert [p.offset for p in parts] == [3.0, 7.0, 11.0]
    assert all(np.shares_memory(p.samples, clip.samples) for p in parts)


def word_times(rel: str) -> list[tuple[float, float]]:
    text = media_file(rel).read_text(encoding="utf-8")
    if rel.endswith(".json"):
        return [(w["start"], w["end"]) for line in json.loads(text) for w in line["words"]]
    stamps = re.findall(r"(\d+):(\d+):(\d+),(\d+) --> (\d+):(\d+):(\d+),(\d+)", text)
    seconds = [int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000
               for row in stamps for h, m, s, ms in (row[:4], row[4:])]
    return list(zip(seconds[0::2], seconds[1::2], strict=True))


@pytest.mark.media
@pytest.mark.parametrize(("audio", "words"), [
    ("speech_video/audiobook_static_image_videogrep_manifesto.mp4",
     "transcripts_and_groundtruth/audiobook_static_image_videogrep_manifesto.words.json"),
    # Nearly continuous speech (57.6 of 60 s pass the gate): the quiet-run fallback cuts.
    ("speech_audio/drama_60s_mono16k_whisperx_sample01.wav",
     "transcripts_and_groundtruth/drama_whisperx_sample01.whisperx_output.word.srt"),
])
@pytest.mark.parametrize("chunk_s", [10.0, 20.0])
def test_real_speech_is_cut_between_words(audio: str, words: str, chunk_s: float) -> None:
    spoken = word_times(words)
    assert len(spoken) > 150
    out = list(pieces(iter_audio(media_file(audio), chunk_s=chunk_s), max_carry=chunk_s / 2))
    assert len(out) >= 3
    for piece in out[:-1]:
        cut = piece.offset + piece.duration
        assert not any(a < cut < b for a, b in spoken), cut
