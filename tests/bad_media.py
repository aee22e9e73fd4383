"""Damaged, forged, odd and hostile media for tests, made with PyAV and a few byte patches."""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def remux(src: Path, dest: Path, **container_options: str) -> Path:
    """Copy every packet of ``src`` into a new file (``movflags="faststart"``: index first)."""
    with av.open(str(src)) as inp, av.open(str(dest), "w",
                                           options=dict(container_options)) as out:
        streams = {}
        for s in inp.streams:
            streams[s.index] = out.add_stream_from_template(s)
        for packet in inp.demux():
            if packet.dts is None:
                continue
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
    return dest


def cut(src: Path, dest: Path, fraction: float) -> Path:
    """The first ``fraction`` of ``src``'s bytes: a download or copy that stopped."""
    data = src.read_bytes()
    dest.write_bytes(data[: int(len(data) * fraction)])
    return dest


def rotate_mp4(path: Path, degrees: int) -> Path:
    """Set the display matrix of the first track (the video of ``make_clip``) so that players
    turn the picture ``degrees`` clockwise, as phones record portrait video."""
    data = bytearray(path.read_bytes())
    at = data.find(b"tkhd")
    version = data[at + 4]
    matrix_at = at + 4 + 4 + (32 if version == 1 else 20) + 8 + 8
    one, minus = 0x10000, 0xFFFF0000
    a, b, c, d = {90: (0, one, minus, 0), 180: (minus, 0, 0, minus),
                  270: (0, minus, one, 0)}[degrees]
    struct.pack_into(">9I", data, matrix_at, a, b, 0, c, d, 0, 0, 0, 0x40000000)
    path.write_bytes(bytes(data))
    return path


def forge_avi(dest: Path, *, claim_size: tuple[int, int] | None = None,
              claim_fps: int | None = None, seconds: float = 1.0) -> Path:
    """A 16x16 raw-video AVI at 10 fps whose headers claim another size or frame rate."""
    fps = 10
    with av.open(str(dest), "w", format="avi") as c:
        s = c.add_stream("rawvideo", rate=fps)
        s.width, s.height, s.pix_fmt = 16, 16, "yuv420p"
        for i in range(int(seconds * fps)):
            img = np.full((16, 16, 3), (i * 25) % 256, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            c.mux(s.encode(frame))
        c.mux(s.encode(None))
    data = bytearray(dest.read_bytes())
    avih, strh, strf = (data.find(tag) for tag in (b"avih", b"strh", b"strf"))
    if claim_size is not None:
        struct.pack_into("<II", data, avih + 40, *claim_size)
        struct.pack_into("<ii", data, strf + 12, *claim_size)
    if claim_fps is not None:
        struct.pack_into("<I", data, avih + 8, round(1e6 / claim_fps))
        struct.pack_into("<II", data, strh + 28, 1, claim_fps)
    dest.write_bytes(bytes(data))
    return dest


def webm_bogus_header(dest: Path, *, seconds: float = 3.0, fps: int = 25) -> Path:
    """A VP8 WebM whose header says 7 fps (the track's DefaultDuration), a frame count of
    999999 and a duration of ten hours; the frames really come at ``fps`` for ``seconds``."""
    with av.open(str(dest), "w", format="webm") as c:
        s = c.add_stream("libvpx", rate=fps)
        s.width, s.height, s.pix_fmt = 160, 120, "yuv420p"
        s.metadata["NUMBER_OF_FRAMES"] = "999999"
        for i in range(int(seconds * fps)):
            img = np.full((120, 160, 3), (i * 9) % 256, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            c.mux(s.encode(frame))
        c.mux(s.encode(None))
    data = bytearray(dest.read_bytes())
    at = data.find(b"\x44\x89\x88")  # Segment Info / Duration, an 8-byte float in ms
    struct.pack_into(">d", data, at + 3, 10 * 3600 * 1000.0)
    at = data.find(b"\x23\xe3\x83")  # Track / DefaultDuration, an unsigned int in ns
    width = data[at + 3] & 0x0F  # size byte 0x8n: n bytes follow
    data[at + 4:at + 4 + width] = round(1e9 / 7).to_bytes(width, "big")
    dest.write_bytes(bytes(data))
    return dest


def vfr_clip(dest: Path, *, seconds: float = 6.0) -> Path:
    """A phone-like variable-frame-rate clip: intervals of 1/30 s and 1/15 s, with sound."""
    with av.open(str(dest), "w") as c:
        v = c.add_stream("libx264", rate=30)
        v.width, v.height, v.pix_fmt = 320, 240, "yuv420p"
        v.options = {"preset": "ultrafast"}
        a = c.add_stream("aac", rate=44100)
        a.layout = "mono"
        t, i = 0, 0
        while t < seconds * 30:
            img = np.full((240, 320, 3), (i * 11) % 256, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, 30)
            c.mux(v.encode(frame))
            t += 1 if (i // 15) % 2 == 0 else 2
            i += 1
        c.mux(v.encode(None))
        _tone(c, a, seconds)
    return dest


def audio_track(dest: Path, samples: np.ndarray, rate: int, *, video_s: float | None = None
                ) -> Path:
    """Mono ``samples`` as AAC, with a still 64x64 picture for ``video_s`` seconds if given."""
    with av.open(str(dest), "w") as c:
        if video_s is not None:
            v = c.add_stream("libx264", rate=1)
            v.width, v.height, v.pix_fmt = 64, 64, "yuv420p"
            v.options = {"preset": "ultrafast"}
            for i in range(int(video_s)):
                frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8),
                                                   format="rgb24")
                frame.pts, frame.time_base = i, Fraction(1, 1)
                c.mux(v.encode(frame))
            c.mux(v.encode(None))
        a = c.add_stream("aac", rate=rate)
        a.layout = "mono"
        _write_audio(c, a, samples.astype(np.float32), rate)
    return dest


def decode_mono(path: Path, rate: int = 16000) -> np.ndarray:
    """The first audio stream of ``path`` as mono float32 at ``rate``."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    out = []
    with av.open(str(path)) as c:
        for frame in c.decode(audio=0):
            out += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(out).astype(np.float32)


def file_list(dest: Path, target: Path) -> Path:
    """An ffconcat list naming ``target``: FFmpeg would read it as if it were this file."""
    dest.write_text(f"ffconcat version 1.0\nfile '{target.name}'\n", encoding="utf-8")
    return dest


def hls_playlist(dest: Path, target: Path) -> Path:
    """An HLS playlist whose one segment is ``target``."""
    dest.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:3,\n{target.name}\n"
                    "#EXT-X-ENDLIST\n", encoding="utf-8")
    return dest


def endless_tail(src: Path, dest: Path, size: int = 4 << 30) -> Path:
    """``src`` (a Matroska file) followed by zeros up to ``size`` bytes that take no disk space
    (a sparse file, as recorders preallocate): FFmpeg's resync scans the zeros without
    producing a packet, for seconds per gigabyte."""
    dest.write_bytes(src.read_bytes())
    with dest.open("r+b") as f:
        f.truncate(size)
    return dest


def _tone(c: av.container.OutputContainer, a: av.audio.stream.AudioStream,
          seconds: float) -> None:
    n = int(seconds * 44100)
    tone = 0.2 * np.sin(2 * np.pi * 440 * np.arange(n) / 44100)
    _write_audio(c, a, tone.astype(np.float32), 44100)


def _write_audio(c: av.container.OutputContainer, a: av.audio.stream.AudioStream,
                 samples: np.ndarray, rate: int) -> None:
    for start in range(0, len(samples), 1024):
        chunk = np.ascontiguousarray(samples[None, start: start + 1024])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        c.mux(a.encode(frame))
    c.mux(a.encode(None))


