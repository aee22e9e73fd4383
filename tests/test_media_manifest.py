"""Every file of the shared media manifest: probe facts, frames and audio as the manifest says.

Skipped when ``../shared/media`` is absent.
"""

from __future__ import annotations

import itertools
import json
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from summarize_video.media.audio import load_audio
from summarize_video.media.frames import sample_frames
from summarize_video.media.probe import probe
from tests.support import MEDIA


def manifest() -> list[dict[str, Any]]:
    path = MEDIA / "manifest.json"
    if not path.is_file():
        return []
    return [e for e in json.loads(path.read_text(encoding="utf-8"))
            if not e["file"].startswith("transcripts_and_groundtruth/")]


ENTRIES = manifest()


def display_size(video: str) -> tuple[int, int]:
    """Display size from an ffprobe line: stored size, SAR, rotation."""
    w, h = map(int, re.search(r" (\d+)x(\d+)", video).groups())  # type: ignore[union-attr]
    sar = re.search(r"SAR (\d+):(\d+)", video)
    if sar:
        w = round(w * Fraction(int(sar[1]), int(sar[2])))
    rot = re.search(r"rotation (-?\d+)", video)
    if rot and int(rot[1]) % 180:
        w, h = h, w
    return w, h


@pytest.fixture(params=ENTRIES or [None], ids=[e["file"] for e in ENTRIES] or ["absent"])
def entry(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param is None or not (MEDIA / request.param["file"]).is_file():
        pytest.skip("shared media not present")
    return request.param


def test_probe_matches_manifest(entry: dict[str, Any]) -> None:
    info = probe(MEDIA / entry["file"])
    assert info.has_video == (entry["video"] != "no video")
    assert info.has_audio == (entry["audio"] != "no audio")
    assert info.duration_s == pytest.approx(float(entry["duration"]), abs=0.1)
    if info.has_video:
        assert (info.width, info.height) == display_size(entry["video"])


def test_frames_are_upright_display_size_and_spaced(entry: dict[str, Any]) -> None:
    path: Path = MEDIA / entry["file"]
    frames = list(sample_frames(path, 2.0, max_side=None))
    if entry["video"] == "no video":
        assert frames == []
        return
    duration = float(entry["duration"])
    assert frames, "at least one frame, even for clips shorter than the interval"
    assert frames[0].t < 0.1
    assert all(f.image.size == display_size(entry["video"]) for f in frames)
    times = [f.t for f in frames]
    assert all(b - a > 2.0 - 0.07 for a, b in itertools.pairwise(times))
    assert times[-1] <= duration and len(frames) >= int(duration // 2.0)


def test_audio_decodes_to_the_manifest_duration(entry: dict[str, Any]) -> None:
    path: Path = MEDIA / entry["file"]
    clip = load_audio(path)
    if entry["audio"] == "no audio":
        assert clip.samples.size == 0
        return
    assert clip.sample_rate == 16000 and clip.samples.ndim == 1
    seconds = clip.samples.size / 16000 + clip.offset
    if "eac3" in entry["audio"]:
        # This E-AC-3 file's packets carry 256 samples each while their times advance 1536.
        assert seconds > 0.2
    else:
        assert seconds == pytest.approx(float(entry["duration"]), abs=0.25)
