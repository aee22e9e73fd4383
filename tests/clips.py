"""Media the tests make themselves with PyAV: no ffmpeg binary needed."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def make_clip(dest: Path, *, seconds: float = 3.0, fps: int = 25, width: int = 320,
              height: int = 240, audio: bool = True, video: bool = True,
              gop: int | None = None, bframes: int = 0) -> Path:
    """H.264 (+ AAC tone) clip whose frame i is a flat colour that encodes i.

    ``gop``: keyframe every ``gop`` frames (default x264's 250); ``bframes``: B-frames, so
    decode order differs from presentation order.
    """
    with av.open(str(dest), "w") as c:
        v = a = None
        if video:
            v = c.add_stream("libx264", rate=fps)
            v.width, v.height, v.pix_fmt = width, height, "yuv420p"
            v.options = {"preset": "ultrafast"}
            if gop or bframes:
                params = [f"bframes={bframes}"] if bframes else []
                if gop:
                    v.gop_size = gop
                    params += [f"keyint={gop}", f"min-keyint={gop}", "scenecut=0"]
                v.options = {**v.options, "x264-params": ":".join(params)}
        if audio:
            a = c.add_stream("aac", rate=44100)
            a.layout = "stereo"
        if v is not None:
            for i in range(int(seconds * fps)):
                img = np.zeros((height, width, 3), dtype=np.uint8)
                img[:, :, 0] = (i * 7) % 256
                img[:, : width // 2, 1] = 200  # left half green: orientation marker
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                frame.pts, frame.time_base = i, Fraction(1, fps)
                c.mux(v.encode(frame))
            c.mux(v.encode(None))
        if a is not None:
            n = int(seconds * 44100)
            t = np.arange(n) / 44100
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            stereo = np.stack([tone, tone])
            for start in range(0, n, 1024):
                chunk = np.ascontiguousarray(stereo[:, start : start + 1024])
                af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                af.sample_rate, af.pts, af.time_base = 44100, start, Fraction(1, 44100)
                c.mux(a.encode(af))
            c.mux(a.encode(None))
    return dest


def mixed_folder(folder: Path) -> Path:
    """A folder with two short clips (a.mp4, c.mkv) and one file that is not a video (b.mp4)."""
    folder.mkdir()
    make_clip(folder / "a.mp4", seconds=2.0, fps=10, audio=False)
    (folder / "b.mp4").write_bytes(b"not a video at all" * 64)
    make_clip(folder / "c.mkv", seconds=2.0, fps=10, audio=False)
    return folder
