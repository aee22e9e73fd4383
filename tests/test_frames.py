"""Frame sampling on generated clips and on the real files of the shared media."""

from __future__ import annotations

import itertools
from pathlib import Path

import av
import pytest

from summarize_video.errors import ConfigError, DecodeError, InputError
from summarize_video.media.frames import SamplingStats, sample_frames
from tests.clips import make_clip
from tests.support import media_file


def test_times_are_true_frame_times_spaced_by_interval(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", seconds=7.0, fps=25, audio=False)
    frames = list(sample_frames(clip, 2.0))
    assert [f.t for f in frames] == [0.0, 2.0, 4.0, 6.0]
    # The red channel encodes the frame index: each image is the frame at its time.
    for f in frames:
        index = round(f.t * 25)
        red = f.image.getpixel((f.image.width - 1, 0))[0]
        assert abs(red - (index * 7) % 256) <= 6
        assert f.image.mode == "RGB"


def test_non_integer_fps_uses_the_first_frame_at_or_after_each_target(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", seconds=3.0, fps=7, audio=False)
    times = [f.t for f in sample_frames(clip, 1.0)]
    # Frames are at k/7 s: the first at or after 1 s is 7/7, after 2 s is 14/7.
    assert times == pytest.approx([0.0, 1.0, 2.0], abs=1e-6)
    times = [f.t for f in sample_frames(clip, 0.5)]
    assert times == pytest.approx([0, 4 / 7, 7 / 7, 11 / 7, 14 / 7, 18 / 7], abs=1e-6)


def test_clip_shorter_than_interval_gives_one_frame(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", seconds=1.0, fps=10, audio=False)
    frames = list(sample_frames(clip, 30.0))
    assert len(frames) == 1 and frames[0].t == 0.0


def test_frames_are_downscaled_keeping_aspect(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", seconds=1.0, fps=5, width=640, height=360,
                     audio=False)
    (frame,) = sample_frames(clip, 5.0, max_side=320)
    assert frame.image.size == (320, 180)
    (full,) = sample_frames(clip, 5.0, max_side=None)
    assert full.image.size == (640, 360)


def test_rotation_turns_frames_upright_clockwise() -> None:
    from fractions import Fraction

    import numpy as np

    from summarize_video.media.decoding import to_image as _to_image

    img = np.zeros((240, 320, 3), dtype=np.uint8)
    img[:, :160, 1] = 200  # left half green
    frame = av.VideoFrame.from_ndarray(img, format="rgb24")
    upright = _to_image(frame, Fraction(1), 90, None)
    assert upright.size == (240, 320)
    # Turned 90 degrees clockwise, the left half becomes the top.
    assert upright.getpixel((120, 40))[1] > 150
    assert upright.getpixel((120, 280))[1] < 50
    assert _to_image(frame, Fraction(1), 180, None).getpixel((300, 10))[1] > 150
    # A 2:1 pixel aspect doubles the display width.
    assert _to_image(frame, Fraction(2), 0, None).size == (640, 240)


def test_audio_only_file_gives_no_frames(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "a.m4a", seconds=1.0, video=False)
    assert list(sample_frames(clip, 1.0)) == []


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        list(sample_frames(tmp_path / "missing.mp4", 1.0))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x01 not a video" * 100)
    with pytest.raises((InputError, DecodeError)) as info:
        list(sample_frames(junk, 1.0))
    assert str(junk) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ConfigError):
        list(sample_frames(junk, 0))


def test_truncated_file_keeps_the_frames_before_the_damage(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mkv", seconds=6.0, fps=25, audio=False)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    frames = list(sample_frames(cut, 1.0))
    assert 1 <= len(frames) < 6
    assert [f.t for f in frames] == [float(i) for i in range(len(frames))]


# --- real files -------------------------------------------------------------------------------


def test_frame_counter_clip_exact_frame_times() -> None:
    path = media_file("noaudio_video/noaudio_frame_counter_10fps_3s_pyscenedetect.mp4")
    assert [f.t for f in sample_frames(path, 1.0)] == [0.0, 1.0, 2.0]
    assert [f.t for f in sample_frames(path, 0.5)] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    # Every frame at 0.1 s spacing: 30 frames, PTS 0 ... 2.9 s.
    times = [f.t for f in sample_frames(path, 0.1)]
    assert times == pytest.approx([i / 10 for i in range(30)], abs=1e-6)


def test_frame_times_match_decoder_pts_on_vfr_clip() -> None:
    path = media_file("noaudio_video/noaudio_vfr_scenecuts_pyscenedetect_goldeneye_drop3.mp4")
    with av.open(str(path)) as c:
        pts = [float(f.time) for f in c.decode(video=0)]
    times = [f.t for f in sample_frames(path, 1.0)]
    assert len(times) == 10
    for k, t in enumerate(times):
        expected = min(p for p in pts if p >= k - 5e-4)
        assert t == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("rel", "size"),
    [
        ("odd_cases/rotated_minus90_with_audio_pyscenedetect_issue134.mp4", (326, 768)),
        ("odd_cases/rotated180_phone_vfr_short_moviepy_fire2.mp4", (768, 432)),
        ("odd_cases/rotated90_with_audio_androidx_270_rotated.mp4", (432, 768)),
        ("odd_cases/veryshort_0.7s_ac3_audio_libopenshot_test1.mp4", (660, 480)),
    ],
)
def test_real_rotation_and_pixel_aspect(rel: str, size: tuple[int, int]) -> None:
    frames = list(sample_frames(media_file(rel), 1.0))
    assert frames and frames[0].image.size == size


def test_every_real_video_samples_from_time_zero(media: Path) -> None:
    videos = sorted(p for p in media.glob("*video/*") if p.suffix in {".mp4", ".mpg"})
    assert videos
    for path in videos:
        frames = list(sample_frames(path, 5.0))
        assert frames, path
        assert frames[0].t < 0.1, path
        assert all(b.t - a.t >= 5.0 - 0.05 for a, b in itertools.pairwise(frames))


def test_missing_path_message_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        next(sample_frames(tmp_path / "nope.mp4", 1.0))
    assert info.value.one_line().startswith(str(tmp_path / "nope.mp4"))


# --- decoding only what is needed: seeking plan and parallel workers ---------------------------


def _sample(path: Path, interval: float, **kw: object) -> tuple[list, SamplingStats]:
    stats = SamplingStats()
    frames = [(f.t, f.image.size, f.image.tobytes())
              for f in sample_frames(path, interval, stats=stats, **kw)]  # type: ignore[arg-type]
    return frames, stats


@pytest.fixture(scope="module")
def short_gop_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 60 s, keyframe every 2 s, B-frames: decode order differs from presentation order.
    dest = tmp_path_factory.mktemp("gop") / "gop20.mp4"
    return make_clip(dest, seconds=60.0, fps=10, width=160, height=120, audio=False, gop=20,
                     bframes=2)


@pytest.mark.parametrize("interval", [10.0, 3.7, 0.25])
def test_seeking_and_parallel_paths_match_sequential(short_gop_clip: Path,
                                                     interval: float) -> None:
    seq, seq_stats = _sample(short_gop_clip, interval, seek=False)
    plan, plan_stats = _sample(short_gop_clip, interval, workers=1)
    par, par_stats = _sample(short_gop_clip, interval, workers=2, min_parallel_s=0)
    assert seq_stats.mode == "sequential" and seq_stats.decoded == 600
    assert plan_stats.mode == "plan" and par_stats.mode == "parallel"
    assert [f[0] for f in plan] == [f[0] for f in seq]
    assert plan == seq  # same times, same sizes, same pixels
    assert par == seq
    for stats in (plan_stats, par_stats):
        assert stats.kept == len(seq)
        assert stats.minimum is not None
        assert stats.minimum <= stats.decoded <= seq_stats.decoded
    assert plan_stats.decoded == plan_stats.minimum
    # Chunks are cut where no packet is shared: the workers decode nothing twice.
    assert par_stats.decoded == plan_stats.decoded and par_stats.workers == 2
    if interval == 10.0:
        # Targets every 100 frames, keyframes every 20: each target needs at most 20 frames.
        assert [f[0] for f in seq] == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]
        assert plan_stats.seeks > 0 and par_stats.seeks > 0
        assert plan_stats.decoded <= 6 * 20


def test_parallel_is_not_used_for_short_files(short_gop_clip: Path) -> None:
    _, stats = _sample(short_gop_clip, 10.0, workers=2)  # 60 s is under the default threshold
    assert stats.mode == "plan" and stats.workers == 1


@pytest.mark.parametrize(
    ("rel", "interval"),
    [
        ("speech_video/speech_then_silence_timecode_autoeditor_example.mp4", 5.0),
        ("odd_cases/mkv_h264_aac_autocut_test003.mkv", 2.0),
        ("odd_cases/mpeg4asp_avi_mp3_androidx_sample.avi", 1.0),
        ("odd_cases/rotated90_with_audio_androidx_270_rotated.mp4", 1.5),
    ],
)
def test_real_files_give_the_same_frames_on_every_path(rel: str, interval: float) -> None:
    path = media_file(rel)
    seq, seq_stats = _sample(path, interval, seek=False)
    plan, plan_stats = _sample(path, interval, workers=1)
    par, par_stats = _sample(path, interval, workers=2, min_parallel_s=0)
    assert seq and plan == seq and par == seq
    assert plan_stats.mode == "plan"
    assert plan_stats.minimum is not None
    assert plan_stats.minimum <= plan_stats.decoded <= seq_stats.decoded
    assert par_stats.minimum is not None and par_stats.decoded >= par_stats.minimum


def test_truncated_file_keeps_the_frames_before_the_damage_when_seeking(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mkv", seconds=60.0, fps=10, width=160, height=120,
                     audio=False, gop=20)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    stats = SamplingStats()
    frames = list(sample_frames(cut, 10.0, stats=stats, workers=1))
    assert stats.mode == "plan"
    assert 1 <= len(frames) < 6
    assert [f.t for f in frames] == [10.0 * i for i in range(len(frames))]
    assert stats.packets and stats.decoded < stats.packets  # the gaps were skipped
    reference = [(f.t, f.image.tobytes()) for f in sample_frames(cut, 10.0, seek=False)]
    assert [(f.t, f.image.tobytes()) for f in frames] == reference


@pytest.mark.parametrize("workers", [1, 2])
def test_a_wrong_index_falls_back_to_sequential_with_the_same_frames(
    short_gop_clip: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    import summarize_video.media.frames as frames_mod

    real_scan = frames_mod.scan_packets

    def lying_scan(container: object, stream: object, stats: object = None) -> object:
        index = real_scan(container, stream, stats)
        index.key[:] = True  # every packet claims to be a keyframe
        return index

    monkeypatch.setattr(frames_mod, "scan_packets", lying_scan)
    got, stats = _sample(short_gop_clip, 3.7, workers=workers, min_parallel_s=0)
    monkeypatch.undo()
    seq, _ = _sample(short_gop_clip, 3.7, seek=False)
    assert stats.mode.endswith("+sequential")
    assert got == seq


def test_no_worker_processes_decodes_in_this_process(short_gop_clip: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import summarize_video.media.parallel as parallel

    def no_processes(*args: object, **kwargs: object) -> None:
        raise OSError("no processes here")

    monkeypatch.setattr(parallel.subprocess, "Popen", no_processes)
    got, stats = _sample(short_gop_clip, 3.7, workers=2, min_parallel_s=0)
    monkeypatch.undo()
    assert stats.mode == "plan" and stats.workers == 1
    assert got == _sample(short_gop_clip, 3.7, seek=False)[0]
