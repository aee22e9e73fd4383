"""Inputs a user gets wrong or a server turns against us: pictures given as videos, and
Markdown outputs that carry what a model wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner
from PIL import Image

from summarize_video.cli.main import cli
from summarize_video.errors import InputError
from summarize_video.inputs.discovery import discover
from summarize_video.media.safe_open import open_container
from tests.support import cli_args


def _picture(path: Path) -> Path:
    Image.new("RGB", (32, 24), (200, 30, 30)).save(path, format=path.suffix.lstrip(".")
                                                    .replace("jpg", "jpeg").upper())
    return path


def test_an_image_input_is_refused_as_an_image(tmp_path: Path, tiny_models: dict[str, Path],
                                               cli_runner: CliRunner) -> None:
    photo, shot = _picture(tmp_path / "photo.jpg"), _picture(tmp_path / "shot.PNG")
    items = list(discover([photo, shot]))
    assert [i.path for i in items] == [photo, shot]
    for item in items:
        assert isinstance(item.error, InputError)
        line = item.error.one_line()
        assert "an image" in line and "video and audio files" in line
        assert "playlist" not in line and "\n" not in line
    out = tmp_path / "out"
    res = cli_runner.invoke(cli, [str(photo), str(shot), *cli_args(tiny_models, out),
                                  "--no-llm"])
    assert res.exit_code == 1, res.output
    failed = [ln for ln in res.output.splitlines() if ln.startswith("failed:")]
    assert len(failed) == 2 and all("an image (" in ln for ln in failed), res.output
    assert "playlists" not in res.output and "Traceback" not in res.output


def test_a_picture_behind_a_media_name_is_refused_as_an_image(tmp_path: Path) -> None:
    disguised = tmp_path / "talk.mp4"
    disguised.write_bytes(_picture(tmp_path / "p.png").read_bytes())
    try:
        open_container(disguised).close()
    except InputError as exc:
        line: Any = exc.one_line()
    else:  # pragma: no cover - the assertion below reports it
        line = None
    assert line is not None and "an image ('png_pipe')" in line and "playlists" not in line
