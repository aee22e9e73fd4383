"""Scene-cut sampling and near-duplicate dropping: generated clips, generated slides, real media."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont, features

from summarize_video.errors import ConfigError, DecodeError, InputError
from summarize_video.media import selection
from summarize_video.media.frames import Frame
from summarize_video.media.selection import changed_area, drop_near_duplicates, scene_frames
from tests.clips import make_clip
from tests.support import MEDIA, media_file

# Shot colours: consecutive ones differ by 40+ in the HSV score, far above the threshold.
COLOURS = [(200, 30, 30), (20, 90, 20), (40, 40, 220), (235, 235, 235), (120, 70, 10),
           (10, 10, 10), (200, 40, 200)]


def shots_clip(dest: Path, cuts: Sequence[int], *, frames: int, fps: int = 25,
               colours: Sequence[int] | None = None) -> Path:
    """H.264 clip, 96x64: shot k starts at frame ``cuts[k-1]`` and is flat ``COLOURS[k]``
    (or ``COLOURS[colours[k]]``) with a small grey square moving across it."""
    starts = [0, *cuts]
    with av.open(str(dest), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = 96, 64, "yuv420p"
        v.options = {"preset": "ultrafast", "crf": "18"}
        for i in range(frames):
            shot = sum(1 for s in starts if s <= i) - 1
            colour = COLOURS[colours[shot] if colours else shot]
            img = np.empty((64, 96, 3), dtype=np.uint8)
            img[:] = colour
            x = (i * 2) % 80
            img[40:48, x : x + 8] = 128  # motion inside the shot
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            c.mux(v.encode(frame))
        c.mux(v.encode(None))
    return dest


def colour_of(frame: Frame) -> tuple[int, int, int]:
    return frame.image.convert("RGB").getpixel((2, 2))  # type: ignore[return-value]


def shot_index(frame: Frame) -> int:
    """The COLOURS entry nearest to the frame's top-left pixel."""
    rgb = np.array(colour_of(frame), dtype=float)
    return int(np.argmin([np.abs(rgb - np.array(c)).sum() for c in COLOURS]))


def assert_chain(frames: Sequence[Frame], end: float) -> None:
    """Each frame lasts until the next one starts; the last lasts until ``end``."""
    assert frames, "no frames"
    for a, b in itertools.pairwise(frames):
        assert a.until == b.t and a.t < b.t
    assert frames[-1].until == pytest.approx(end, abs=1e-6)


# --- scene_frames on generated clips ------------------------------------------------------------


def test_hard_cuts_give_the_first_frame_of_each_shot_exactly(tmp_path: Path) -> None:
    clip = shots_clip(tmp_path / "cuts.mp4", [30, 80, 140, 200], frames=250)
    stats: dict[str, int] = {}
    frames = list(scene_frames(clip, stats=stats))
    assert [f.t for f in frames] == [0.0, 1.2, 3.2, 5.6, 8.0]
    assert [shot_index(f) for f in frames] == [0, 1, 2, 3, 4]
    assert_chain(frames, 10.0)
    assert stats == {"decoded": 250, "kept": 5, "dropped": 245}
    assert frames[0].image.size == (96, 64) and frames[0].image.mode == "RGB"


def test_min_gap_defers_a_new_shot_and_ignores_a_flash(tmp_path: Path) -> None:
    # Shots: 0 at 0 s, 1 at 0.4 s, 2 at 0.8 s, 3 at 2.0 s, a 3-frame flash of 4 at 2.4 s,
    # back to 3 at 2.52 s, then 5 at 4.0 s.
    clip = shots_clip(tmp_path / "quick.mp4", [10, 20, 50, 60, 63, 100], frames=150,
                      colours=[0, 1, 2, 3, 4, 3, 5])
    frames = list(scene_frames(clip, min_gap=1.0))
    # Shot 1 is too short to get a frame; shot 2 gets one as soon as the gap allows; the
    # flash and the return to shot 3 give nothing.
    assert [f.t for f in frames] == [0.0, 1.0, 2.0, 4.0]
    assert [shot_index(f) for f in frames] == [0, 2, 3, 5]
    assert_chain(frames, 6.0)
    # Without a gap every cut counts.
    every = list(scene_frames(clip, min_gap=0.0))
    assert [f.t for f in every] == [0.0, 0.4, 0.8, 2.0, 2.4, 2.52, 4.0]
    assert [shot_index(f) for f in every] == [0, 1, 2, 3, 4, 3, 5]
    for gap in (0.5, 1.0, 1.5):
        times = [f.t for f in scene_frames(clip, min_gap=gap)]
        assert all(b - a >= gap - 1e-6 for a, b in itertools.pairwise(times))


def test_max_gap_forces_frames_only_when_no_cut_comes(tmp_path: Path) -> None:
    static = shots_clip(tmp_path / "static.mp4", [], frames=120, fps=10)
    frames = list(scene_frames(static, max_gap=5.0))
    assert [f.t for f in frames] == [0.0, 5.0, 10.0]
    assert_chain(frames, 12.0)
    assert len(list(scene_frames(static))) == 1  # default 30 s
    # A cut restarts the count.
    cut = shots_clip(tmp_path / "cut.mp4", [30], frames=120, fps=10)
    frames = list(scene_frames(cut, max_gap=5.0))
    assert [f.t for f in frames] == [0.0, 3.0, 8.0]
    assert [shot_index(f) for f in frames] == [0, 1, 1]
    assert_chain(frames, 12.0)
    assert [f.t for f in scene_frames(cut, max_gap=float("inf"))] == [0.0, 3.0]


def test_stats_add_up_and_accumulate(tmp_path: Path) -> None:
    clip = shots_clip(tmp_path / "c.mp4", [20], frames=50, fps=10)
    stats = {"decoded": 7, "kept": 2, "dropped": 5}
    frames = list(scene_frames(clip, stats=stats))
    assert len(frames) == 2
    assert stats == {"decoded": 57, "kept": 4, "dropped": 53}
    assert stats["kept"] + stats["dropped"] == stats["decoded"]


def test_audio_only_bad_inputs_and_options(tmp_path: Path) -> None:
    audio = make_clip(tmp_path / "a.m4a", seconds=1.0, video=False)
    stats: dict[str, int] = {}
    assert list(scene_frames(audio, stats=stats)) == []
    assert stats == {"decoded": 0, "kept": 0, "dropped": 0}
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x01 not a video" * 100)
    with pytest.raises((InputError, DecodeError)) as info:
        list(scene_frames(junk))
    assert str(junk) in str(info.value)
    for bad in ({"threshold": -1.0}, {"min_gap": 5.0, "max_gap": 2.0}, {"max_gap": 0.0},
                {"min_gap": float("nan")}):
        with pytest.raises(ConfigError):
            list(scene_frames(audio, **bad))  # type: ignore[arg-type]


class _Breaking:
    """A container whose decoding fails after ``ok`` frames."""

    def __init__(self, real: object, ok: int) -> None:
        self._real, self._ok = real, ok

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)

    def decode(self, *args: object) -> Iterator[object]:
        for i, frame in enumerate(self._real.decode(*args)):  # type: ignore[attr-defined]
            if i == self._ok:
                raise av.InvalidDataError(1094995529, "Invalid data found when processing input")
            yield frame


def test_damage_midway_keeps_what_came_before(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clip = shots_clip(tmp_path / "c.mp4", [20, 40], frames=60, fps=10)
    real_open = selection.open_container
    monkeypatch.setattr(selection, "open_container",
                        lambda p, stage: _Breaking(real_open(p, stage), ok=45))
    with caplog.at_level(logging.WARNING, logger="summarize_video.media.selection"):
        frames = list(scene_frames(clip))
    assert [f.t for f in frames] == [0.0, 2.0, 4.0]
    assert_chain(frames, 4.5)  # the end of the last decoded frame
    assert "decoding stopped" in caplog.text
    monkeypatch.setattr(selection, "open_container",
                        lambda p, stage: _Breaking(real_open(p, stage), ok=0))
    with pytest.raises(DecodeError) as info:
        list(scene_frames(clip))
    assert info.value.stage == "sample" and info.value.path == str(clip)


def test_truncated_file_keeps_the_shots_before_the_damage(tmp_path: Path) -> None:
    clip = shots_clip(tmp_path / "c.mkv", [25, 75, 125], frames=150)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    frames = list(scene_frames(cut))
    assert 1 <= len(frames) < 4
    assert [f.t for f in frames] == [0.0, 1.0, 3.0][: len(frames)]
    assert frames[-1].until is not None and frames[-1].until > frames[-1].t


# --- scene_frames on the PySceneDetect reference clips -----------------------------------------


def _golden(name: str) -> list[int]:
    path = MEDIA / "transcripts_and_groundtruth" / name
    if not path.is_file():
        pytest.skip(f"ground truth not present: {path}")
    return json.loads(path.read_text())["cuts"]


def test_pyscenedetect_testvideo_cuts_match_ground_truth() -> None:
    path = media_file("noaudio_video/noaudio_scenecuts_pyscenedetect_testvideo.mp4")
    golden = _golden("pyscenedetect_testvideo.ContentDetector.default.json")  # [30, 180, 394]
    stats: dict[str, int] = {}
    frames = list(scene_frames(path, max_side=256, stats=stats))
    fps = 30000 / 1001
    found = [round(f.t * fps) for f in frames[1:]]
    assert len(found) == len(golden)
    assert all(abs(a - b) <= 1 for a, b in zip(found, golden, strict=True)), found
    assert found == golden  # exact in practice
    assert stats["decoded"] == 720 and stats["kept"] == 4
    assert_chain(frames, 720 / fps)


def test_pyscenedetect_vfr_cuts_are_in_nominal_frame_numbers() -> None:
    """The golden [90, 210] counts frames at the nominal 24000/1001 fps, not decoded frames.

    The clip drops every third frame of the original (PTS steps 1001, 2002 in 1/24000 s), so
    the cuts are decoded frames 60 and 140, at 3.754 s and 8.759 s: PySceneDetect's own VFR
    test expects scenes 0-3.754 s, 3.754-8.759 s.
    """
    path = media_file("noaudio_video/noaudio_vfr_scenecuts_pyscenedetect_goldeneye_drop3.mp4")
    golden = _golden("pyscenedetect_goldeneye-vfr-drop3.ContentDetector.default.json")
    frames = list(scene_frames(path, max_side=256))
    times = [f.t for f in frames[1:]]
    assert [round(t * 24000 / 1001) for t in times] == golden
    assert times == pytest.approx([3.754, 8.759], abs=1e-3)
    with av.open(str(path)) as c:
        decoded = [float(f.time) for f in c.decode(video=0)]
    assert [decoded.index(t) for t in times] == [60, 140]


def test_rotated_copy_finds_the_same_cuts_upright() -> None:
    path = media_file("odd_cases/rotated_minus90_with_audio_pyscenedetect_issue134.mp4")
    frames = list(scene_frames(path, max_side=256))
    assert [f.t for f in frames[1:]] == pytest.approx([3.754, 8.759], abs=1e-3)
    width, height = frames[0].image.size
    assert height == 256 and width < height  # displayed portrait


def test_static_picture_gives_only_forced_frames() -> None:
    path = media_file("speech_video/audiobook_static_image_videogrep_manifesto.mp4")
    frames = list(scene_frames(path))
    assert [f.t for f in frames] == [0.0, 30.0, 60.0]
    assert_chain(frames, 88.08)


def test_grey_fades_are_not_cuts() -> None:
    """PySceneDetect's HistogramDetector golden for this clip is a cut every 15 frames
    (0.6 s) while a flat grey picture fades between black and white. Nothing new is shown,
    the HSV score stays under 4, and 0.6 s is below min_gap anyway: one frame."""
    path = media_file("noaudio_video/noaudio_fades_mpeg4part2_pyscenedetect.mp4")
    assert len(_golden("pyscenedetect_fades.HistogramDetector.default.json")) == 16
    frames = list(scene_frames(path, max_side=64))
    assert [f.t for f in frames] == [0.0]
    assert_chain(frames, 10.0)


# --- drop_near_duplicates ----------------------------------------------------------------------

LINES = ["Revenue grew by twelve percent", "Costs were flat", "Hiring paused in Q3"]


def slide(lines: Sequence[str], *, noise: float = 0.0, seed: int = 0) -> Image.Image:
    """A 640x360 slide: a title and bullet lines (18 px, like 36 px text at 720p)."""
    if not features.check("freetype2"):
        pytest.skip("Pillow without FreeType: no scalable font for the slides")
    image = Image.new("RGB", (640, 360), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.text((40, 30), "Quarterly results", fill=(20, 20, 20),
              font=ImageFont.load_default(size=32))
    font = ImageFont.load_default(size=18)
    for i, line in enumerate(lines):
        draw.text((50, 100 + 34 * i), "- " + line, fill=(20, 20, 20), font=font)
    if noise:
        pixels = np.asarray(image, dtype=np.float32)
        pixels += np.random.default_rng(seed).normal(0, noise, pixels.shape)
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    return image


def photo(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (9, 16, 3), dtype=np.uint8)
    return Image.fromarray(blocks).resize((640, 360), Image.Resampling.BILINEAR)


def test_changed_area_separates_noise_from_a_new_line_of_text() -> None:
    base = slide(LINES)
    assert changed_area(base, slide(LINES, noise=8, seed=1)) == 0.0
    assert changed_area(slide(LINES, noise=8, seed=1), slide(LINES, noise=8, seed=2)) == 0.0
    new_line = changed_area(base, slide([*LINES, "Next: the roadmap"]))
    assert new_line > 1.5 * selection.DEFAULT_DUPLICATE_THRESHOLD
    assert changed_area(base, photo(1)) > 0.2
    # Half the size, same answer: the measure is a fraction of the picture.
    small = changed_area(base.resize((320, 180)), slide([*LINES, "Next: the roadmap"]).resize(
        (320, 180)))
    assert small == pytest.approx(new_line, rel=0.35)


def test_drop_near_duplicates_keeps_changes_and_chains_until() -> None:
    frames = [
        Frame(0.0, slide(LINES)),
        Frame(5.0, slide(LINES, noise=6, seed=1)),
        Frame(10.0, slide(LINES, noise=6, seed=2)),
        Frame(15.0, slide([*LINES, "Next: the roadmap"], noise=6, seed=3)),
        Frame(20.0, slide([*LINES, "Next: the roadmap"], noise=6, seed=4)),
        Frame(25.0, photo(1)),
        Frame(30.0, photo(1)),
    ]
    stats: dict[str, int] = {}
    kept = list(drop_near_duplicates(frames, end=40.0, stats=stats))
    assert [f.t for f in kept] == [0.0, 15.0, 25.0]
    assert_chain(kept, 40.0)
    assert stats == {"decoded": 7, "kept": 3, "dropped": 4}
    # Without ``end`` the last kept frame lasts until the last frame seen (or its ``until``).
    assert list(drop_near_duplicates(frames))[-1].until == 30.0
    tail = [*frames[:-1], Frame(30.0, photo(1), until=33.0)]
    assert list(drop_near_duplicates(tail))[-1].until == 33.0
    # Threshold 0 keeps everything, still chained.
    stats = {"decoded": 1, "kept": 1, "dropped": 0}
    every = list(drop_near_duplicates(frames, threshold=0, end=35.0, stats=stats))
    assert [f.t for f in every] == [f.t for f in frames]
    assert_chain(every, 35.0)
    assert stats == {"decoded": 8, "kept": 8, "dropped": 0}
    assert list(drop_near_duplicates([])) == []
    with pytest.raises(ConfigError):
        list(drop_near_duplicates(frames, threshold=-0.1))


def test_drop_near_duplicates_holds_one_frame() -> None:
    pulled: list[float] = []

    def source() -> Iterator[Frame]:
        for i, image in enumerate([slide(LINES), slide(LINES, noise=6), photo(1), photo(2)]):
            pulled.append(i * 2.0)
            yield Frame(i * 2.0, image)

    out = drop_near_duplicates(source())
    first = next(out)
    assert first.t == 0.0 and first.until == 4.0
    assert pulled == [0.0, 2.0, 4.0]  # yielded as soon as the next kept frame was known
    assert [f.t for f in out] == [4.0, 6.0]


def test_scenes_then_duplicates_on_a_talking_head() -> None:
    """A steady talking head sampled every second collapses to its first frame."""
    from summarize_video.media.frames import sample_frames

    path = media_file("speech_video/talkinghead_vfr_videoretalking_face1.mp4")
    stats: dict[str, int] = {}
    sampled = list(sample_frames(path, 1.0, max_side=256))
    kept = list(drop_near_duplicates(sampled, end=6.1, stats=stats))
    assert [f.t for f in kept] == [sampled[0].t]
    assert kept[0].until == 6.1
    assert stats == {"decoded": len(sampled), "kept": 1, "dropped": len(sampled) - 1}
    assert len(sampled) >= 6
