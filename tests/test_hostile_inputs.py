"""Inputs a user gets wrong or a server turns against us: pictures given as videos, URL
downloads from hostile servers (real HTTP on 127.0.0.1, real child processes and signals), and
Markdown outputs that carry what a model wrote."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image

from summarize_video.cli.main import cli
from summarize_video.errors import InputError
from summarize_video.inputs.discovery import discover
from summarize_video.inputs.urls import DOWNLOAD_PREFIX, fetch
from summarize_video.media.safe_open import open_container
from summarize_video.testing.media_site import FTP_TARGET, MediaSite
from tests.clips import make_clip
from tests.secrets_scan import SENTINEL, leaks
from tests.support import ROOT, cli_args


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


# -- URL downloads from hostile servers -------------------------------------------------------

@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary folder downloads go to (here and in child processes)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setenv("TMPDIR", str(folder))
    return folder


@pytest.fixture
def site(tmp_path: Path) -> Iterator[MediaSite]:
    root = tmp_path / "site"
    root.mkdir()
    make_clip(root / "talk.mp4", seconds=1.0, fps=10)
    with MediaSite(root, user="viewer", password=SENTINEL) as server:
        yield server


def _fails(url: str, **kwargs: Any) -> str:
    with pytest.raises(InputError) as info, fetch(url, **kwargs):
        pass
    assert info.value.exit_code == 1
    line = info.value.one_line()
    assert "\n" not in line and not leaks(line), line
    return line


def test_a_gzip_bomb_stops_at_the_download_cap(site: MediaSite, private_tmp: Path) -> None:
    line = _fails(site.url("bomb.mp4"), max_bytes=10**6)
    assert line.startswith(f"{site.url('bomb.mp4')}: download: larger than the download cap")
    assert list(private_tmp.iterdir()) == []
    # A file the server gzip-encodes anyway arrives as the file itself.
    clip = site.root / "talk.mp4"
    with fetch(site.url("gzip/talk.mp4"), max_bytes=10**6) as local:
        assert local.read_bytes() == clip.read_bytes()


def test_a_server_that_drips_is_abandoned(site: MediaSite, private_tmp: Path) -> None:
    line = _fails(site.url("drip.mp4"), timeout=5.0, rate_window_s=0.5, min_window_bytes=1000)
    assert "the server is too slow" in line and "per 0.5 s" in line
    assert list(private_tmp.iterdir()) == []


def test_a_redirect_to_another_scheme_is_refused(site: MediaSite, private_tmp: Path) -> None:
    url = site.url("to-ftp.mp4")
    line = _fails(url)
    assert line.startswith(f"{url}: download: redirected to {FTP_TARGET}: only http:// and ")
    with fetch(site.url("hop/talk.mp4")) as local:  # http -> http is followed
        assert local.read_bytes() == (site.root / "talk.mp4").read_bytes()
    assert list(private_tmp.iterdir()) == []


def test_userinfo_is_sent_as_basic_auth_and_never_shown(site: MediaSite,
                                                        private_tmp: Path) -> None:
    url = site.url("auth/talk.mp4", f"viewer:{SENTINEL}")
    with fetch(url) as local:
        assert local.read_bytes() == (site.root / "talk.mp4").read_bytes()
    assert site.requests[-1][1]["authorization"].startswith("Basic ")
    line = _fails(site.url("auth/talk.mp4", f"viewer:wrong-{SENTINEL}"))
    assert line.startswith(f"http://***@{site.base_url.removeprefix('http://')}/auth/talk.mp4: "
                           "download: download failed: HTTP 401")
    # Not sent on to where a redirect points.
    site.requests.clear()
    with fetch(site.url("hop/talk.mp4", f"viewer:{SENTINEL}")):
        pass
    assert [p for p, _ in site.requests] == ["/hop/talk.mp4", "/talk.mp4"]
    assert "authorization" not in site.requests[1][1]


def test_cli_never_shows_the_password_of_a_url(site: MediaSite, tiny_models: dict[str, Path],
                                              tmp_path: Path, cli_runner: CliRunner) -> None:
    url = site.url("auth/missing.mp4", f"viewer:{SENTINEL}")
    res = cli_runner.invoke(cli, [url, *cli_args(tiny_models, tmp_path / "out"), "--no-llm"])
    assert res.exit_code == 1, res.output
    assert not leaks(res.output), res.output
    shown = f"http://***@{site.base_url.removeprefix('http://')}/auth/missing.mp4"
    assert f"failed: {shown}: download: download failed: HTTP 404" in res.output


CHILD = """
import sys
from summarize_video.inputs.urls import fetch
with fetch(sys.argv[1], timeout=30.0, rate_window_s=1000.0):
    pass
"""


def _start_child_download(url: str) -> tuple[subprocess.Popen[bytes], Path]:
    """A process downloading ``url`` (a drip) and its download folder, once it has a file."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, url], cwd=ROOT,
                             env=dict(os.environ, PYTHONPATH=str(ROOT)))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        folders = list(Path(tempfile.gettempdir()).glob(f"{DOWNLOAD_PREFIX}{child.pid}-*"))
        if folders and any(folders[0].iterdir()):
            return child, folders[0]
        time.sleep(0.05)
    child.kill()
    raise AssertionError("the child never started its download")


def test_an_interrupted_download_removes_its_folder(site: MediaSite, private_tmp: Path) -> None:
    child, folder = _start_child_download(site.url("drip.mp4"))
    child.send_signal(signal.SIGINT)
    assert child.wait(timeout=30) != 0
    assert not folder.exists()


def test_a_killed_download_is_swept_by_the_next(site: MediaSite, private_tmp: Path) -> None:
    child, folder = _start_child_download(site.url("drip.mp4"))
    child.kill()
    child.wait(timeout=30)
    assert folder.exists()  # kill -9 runs no cleanup
    alive = private_tmp / f"{DOWNLOAD_PREFIX}{os.getppid()}-busy"  # a live process's
    alive.mkdir()
    with fetch(site.url("talk.mp4")) as local:
        assert local.parent.name.startswith(f"{DOWNLOAD_PREFIX}{os.getpid()}-")
        assert not folder.exists() and alive.exists()
