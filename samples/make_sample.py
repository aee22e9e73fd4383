"""Make ``samples/sample.mp4``: a 24 s, 640x360 H.264 + AAC clip with four scenes and narration.

The pictures are drawn with Pillow and encoded with PyAV. The narration is spoken by espeak-ng
when it is installed (``apt-get install espeak-ng``); without it the audio is a quiet tone, so
the script still runs anywhere the package's own dependencies are installed.

    python samples/make_sample.py [OUTPUT]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

W, H, FPS, RATE = 640, 360, 24, 24000
SCENE_S = 6

SCENES = [
    ("#1f3b73", "Welcome", "A short sample video",
     "Welcome. This is a short sample video made for testing a video summarizer."),
    ("#2e7d32", "Step 1: Sample", "One frame every few seconds",
     "First, the tool samples one frame every few seconds and describes each picture."),
    ("#b23c17", "Step 2: Listen", "Speech becomes a transcript",
     "Second, it listens to the audio and writes down what is said, with timestamps."),
    ("#5e35b1", "Step 3: Summarize", "One language model reads the text",
     "Finally, one language model reads the text and writes the summary. Thank you."),
]


def font(size: int) -> ImageFont.ImageFont:
    for name in ("DejaVuSans-Bold.ttf", "LiberationSans-Bold.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def draw_scene(index: int, t: float) -> Image.Image:
    color, title, subtitle, _ = SCENES[index]
    img = Image.new("RGB", (W, H), color)
    d = ImageDraw.Draw(img)
    d.text((W // 2, 120), title, fill="white", font=font(44), anchor="mm")
    d.text((W // 2, 180), subtitle, fill="#f0f0f0", font=font(24), anchor="mm")
    # A moving ball, so the frames are not all identical within a scene.
    x = int(60 + (W - 120) * ((t % SCENE_S) / SCENE_S))
    d.ellipse((x - 18, 260 - 18, x + 18, 260 + 18), fill="#ffd54f")
    d.text((W - 12, H - 12), f"{t:05.2f}", fill="white", font=font(16), anchor="rd")
    return img


def speech(text: str, seconds: float) -> np.ndarray:
    """Mono float32 at RATE: espeak-ng's voice if available, else a quiet tone."""
    n = int(seconds * RATE)
    out = np.zeros(n, dtype=np.float32)
    exe = shutil.which("espeak-ng") or shutil.which("espeak")
    if exe:
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "s.wav"
            subprocess.run([exe, "-s", "150", "-w", str(wav), text], check=True)
            with wave.open(str(wav)) as w:
                raw = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
                src_rate = w.getframerate()
            voice = raw.astype(np.float32) / 32768.0
            idx = np.arange(0, len(voice), src_rate / RATE)
            voice = np.interp(idx, np.arange(len(voice)), voice).astype(np.float32)
            start = int(0.3 * RATE)
            voice = voice[: n - start]
            out[start : start + len(voice)] = voice
    else:
        t = np.arange(n) / RATE
        out[:] = 0.05 * np.sin(2 * np.pi * 440 * t)
    return out


def main(dest: Path) -> None:
    with av.open(str(dest), "w") as c:
        v = c.add_stream("libx264", rate=FPS)
        v.width, v.height, v.pix_fmt = W, H, "yuv420p"
        v.options = {"crf": "30", "preset": "veryslow", "g": str(FPS * 4)}
        a = c.add_stream("aac", rate=RATE)
        a.layout = "mono"
        for i in range(len(SCENES) * SCENE_S * FPS):
            t = i / FPS
            frame = av.VideoFrame.from_image(draw_scene(int(t // SCENE_S), t))
            frame.pts = i
            frame.time_base = Fraction(1, FPS)
            c.mux(v.encode(frame))
        c.mux(v.encode(None))
        audio = np.concatenate([speech(s[3], SCENE_S) for s in SCENES])
        pts = 0
        for start in range(0, len(audio), 1024):
            chunk = audio[start : start + 1024].reshape(1, -1)
            af = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
            af.sample_rate, af.pts, af.time_base = RATE, pts, Fraction(1, RATE)
            pts += chunk.shape[1]
            c.mux(a.encode(af))
        c.mux(a.encode(None))
    print(f"wrote {dest} ({dest.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("sample.mp4"))
