"""Awkward file names, end to end in a real process: non-ASCII, spaces, ``%d`` (FFmpeg's
image-sequence pattern), a leading dash, rich markup and shell characters."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from summarize_video.testing.chat_server import ChatServer
from tests.clips import make_clip
from tests.support import cli_args

NAMES = {  # input name -> output stem
    "café – résumé 日本.mp4": "café – résumé 日本",
    "my clip  01.mp4": "my clip 01",
    "frame%d %s %%.mp4": "frame%d %s %%",
    "-rf --help.mp4": "rf --help",
    "[b]x[i] $(id) `id`.mp4": "[b]x[i] $(id) `id`",
}


def test_awkward_names_are_read_named_and_reported_literally(
        tmp_path: Path, tiny_models: dict[str, Path]) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    clip = make_clip(tmp_path / "clip.mp4", seconds=1.0, fps=10)
    for name in NAMES:  # FFmpeg itself would read "%d" in a name it writes as a pattern
        shutil.copyfile(clip, folder / name)
    out = tmp_path / "out"
    with ChatServer(reply=lambda body: "Seen.") as srv:
        # A folder, then a leading-dash file named directly after "--".
        runs = [
            subprocess.run([sys.executable, "-m", "summarize_video", str(folder),
                            *cli_args(tiny_models, out), "--base-url", srv.base_url,
                            "--format", "json,md"], capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, COLUMNS="400")),
            subprocess.run([sys.executable, "-m", "summarize_video",
                            *cli_args(tiny_models, tmp_path / "one"), "--base-url",
                            srv.base_url, "--format", "json", "--", "-rf --help.mp4"],
                           capture_output=True, text=True, timeout=300, cwd=folder),
        ]
    for run in runs:
        assert run.returncode == 0, run.stderr
        assert "Traceback" not in run.stderr
    for name, stem in NAMES.items():
        data = json.loads((out / f"{stem}.summary.json").read_text(encoding="utf-8"))
        assert Path(data["video"]["path"]).name == name
        assert data["summary"] == "Seen." and data["captions"]
        assert name in runs[0].stderr  # reported as named, markup and all
    assert (tmp_path / "one" / "rf --help.summary.json").exists()
    # Each title reached the prompt literally (runs of spaces made one).
    titles = "\n".join(json.dumps(r, ensure_ascii=False) for r in srv.requests)
    for name in NAMES:
        assert json.dumps(" ".join(name.split()), ensure_ascii=False)[1:-1] in titles
