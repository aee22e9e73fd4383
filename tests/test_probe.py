"""Probing real and generated files."""

from __future__ import annotations

from pathlib import Path

import pytest

from summarize_video.errors import InputError
from summarize_video.media.probe import probe
from tests.clips import make_clip
from tests.support import media_file


def test_generated_clip(tmp_path: Path) -> None:
    info = probe(make_clip(tmp_path / "c.mp4", seconds=2.0, fps=25, width=320, height=240))
    assert (info.width, info.height, info.fps) == (320, 240, 25.0)
    assert info.has_video and info.has_audio
    assert info.duration_s == pytest.approx(2.0, abs=0.1)


def test_video_without_audio_and_audio_without_video(tmp_path: Path) -> None:
    assert not probe(make_clip(tmp_path / "v.mp4", audio=False)).has_audio
    info = probe(make_clip(tmp_path / "a.m4a", video=False))
    assert info.has_audio and not info.has_video and info.width is None


@pytest.mark.parametrize("content", [b"", b"hello, I am not a video\n" * 50])
def test_not_media(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fake.mp4"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        probe(path)
    assert info.value.one_line().startswith(f"{path}: probe: ")
    assert info.value.exit_code == 1


def test_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        probe(tmp_path / "none.mp4")
    with pytest.raises(InputError, match="directory"):
        probe(tmp_path)


def test_real_rotated_and_anamorphic_display_sizes() -> None:
    info = probe(media_file("odd_cases/rotated_minus90_with_audio_pyscenedetect_issue134.mp4"))
    assert (info.width, info.height, info.rotation) == (544, 1280, 90)
    info = probe(media_file("odd_cases/veryshort_0.7s_ac3_audio_libopenshot_test1.mp4"))
    assert (info.width, info.height) == (660, 480)  # 720x480 at SAR 11:12
    info = probe(media_file("noaudio_video/noaudio_frame_counter_10fps_3s_pyscenedetect.mp4"))
    assert (info.duration_s, info.fps, info.has_audio) == (3.0, 10.0, False)
