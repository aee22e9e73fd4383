"""URL inputs against a real HTTP server on 127.0.0.1 (nothing else is ever contacted)."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import threading
import types
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from summarize_video.cli.main import cli
from summarize_video.errors import InputError
from summarize_video.inputs.discovery import Input, discover
from summarize_video.inputs.urls import URL_EXTRA, fetch, is_url, url_file_name
from summarize_video.pipeline.cache import hash_file
from tests.clips import make_clip
from tests.support import cli_args, media_file

PAGE = b"<!doctype html><html><body><video src='/x.mp4'></video></body></html>"


class _Handler(SimpleHTTPRequestHandler):
    """Files from a folder; ``/page...`` is a video platform's HTML page."""

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        if self.path.startswith("/page"):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)
            return
        super().do_GET()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(base URL, served folder): a stdlib HTTP server in a thread on 127.0.0.1."""
    root = tmp_path / "site"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary folder downloads go to, to check they are removed."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def no_yt_dlp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yt_dlp", None)  # import yt_dlp raises ImportError


def test_urls_are_recognized_and_named() -> None:
    assert is_url("https://example.com/a.mp4") and is_url("HTTP://h/x")
    assert not is_url("talk.mp4") and not is_url(Path("http:/h/x")) and not is_url("ftp://h/x")
    assert url_file_name("http://h/dir/My%20Talk.mp4?x=1") == "My Talk.mp4"
    assert url_file_name("http://h/../../etc/passwd") == "passwd"
    assert url_file_name("https://www.example.com/watch?v=abc") == "watch"
    assert url_file_name("http://h/") == "download"
    items = list(discover(["http://h/a/b.webm", "http://h/a/b.webm"]))
    assert items == [Input(Path("b.webm"), url="http://h/a/b.webm")] * 2


def test_fetch_streams_to_a_private_folder_and_removes_it(
        site: tuple[str, Path], private_tmp: Path) -> None:
    base, root = site
    clip = make_clip(root / "My Talk.mp4", seconds=1.0, fps=10)
    seen: list[tuple[str, int, int | None]] = []
    with fetch(f"{base}/My%20Talk.mp4", progress=lambda *a: seen.append(a)) as local:
        assert local.name == "My Talk.mp4" and local.parent.parent == private_tmp
        assert local.read_bytes() == clip.read_bytes()
        assert (local.parent.stat().st_mode & 0o777) == 0o700
    assert list(private_tmp.iterdir()) == []
    assert seen and seen[-1][0] == "download"


def test_size_cap_and_server_failures_are_one_line(site: tuple[str, Path],
                                                   private_tmp: Path) -> None:
    base, root = site
    make_clip(root / "c.mp4", seconds=1.0, fps=10)
    cases = [(f"{base}/c.mp4", 1000, "larger than the download cap of 0.001 MB"),
             (f"{base}/missing.mp4", None, "download failed: HTTP 404"),
             ("http://127.0.0.1:9/x.mp4", None, "download failed:")]
    for url, cap, text in cases:
        with pytest.raises(InputError) as info, fetch(url, max_bytes=cap):
            pass
        line = info.value.one_line()
        assert line.startswith(f"{url}: download: ") and text in line and "\n" not in line
        assert info.value.exit_code == 1
    assert list(private_tmp.iterdir()) == []


def test_a_web_page_without_yt_dlp_names_the_extra(site: tuple[str, Path],
                                                   no_yt_dlp: None) -> None:
    base, _ = site
    for url in (f"{base}/page?v=1", f"{base}/page.mp4"):
        with pytest.raises(InputError) as info, fetch(url):
            pass
        assert "text/html" in str(info.value) and URL_EXTRA in str(info.value)


def test_a_web_page_goes_through_yt_dlp_when_installed(
        site: tuple[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    base, _ = site
    clip = make_clip(tmp_path / "src.mp4", seconds=1.0, fps=10)
    calls: list[dict[str, Any]] = []

    class YoutubeDL:
        def __init__(self, options: dict[str, Any]) -> None:
            self.options = options
            calls.append(options)

        def __enter__(self) -> YoutubeDL:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def download(self, urls: list[str]) -> None:
            if "broken" in urls[0]:
                raise RuntimeError("ERROR: [generic] Unsupported URL: " + urls[0])
            target = self.options["outtmpl"].replace("%(title).80B [%(id)s].%(ext)s",
                                                     "A_title [abc].mp4")
            shutil.copyfile(clip, target)

    monkeypatch.setitem(sys.modules, "yt_dlp", types.SimpleNamespace(YoutubeDL=YoutubeDL))
    with fetch(f"{base}/page?v=abc", max_bytes=10**6) as local:
        assert local.name == "A_title [abc].mp4" and local.read_bytes() == clip.read_bytes()
    assert calls[0]["max_filesize"] == 10**6 and calls[0]["noplaylist"] is True
    with pytest.raises(InputError, match="yt-dlp could not download it: \\[generic\\]"), \
            fetch(f"{base}/broken"):
        pass


def _summarize_url(url: str, tiny: dict[str, Path], out: Path, server: Any) -> Any:
    return CliRunner().invoke(cli, [url, *cli_args(tiny, out), "--interval", "2",
                                    "--base-url", server.base_url, "--llm-model", "test-model"])


@pytest.mark.parametrize("real", [False, True], ids=["generated", "shared-media"])
def test_cli_summarizes_a_url_end_to_end(site: tuple[str, Path], private_tmp: Path,
                                         tiny_models: dict[str, Path], chat_server: Any,
                                         tmp_path: Path, real: bool) -> None:
    base, root = site
    if real:
        source = media_file("speech_video/talkinghead_vfr_videoretalking_face1.mp4")
        served = root / source.name
        shutil.copyfile(source, served)
    else:
        served = make_clip(root / "talk.mp4", seconds=4.0, fps=10)
    url = f"{base}/{served.name}"
    out = tmp_path / "out"
    res = _summarize_url(url, tiny_models, out, chat_server)
    assert res.exit_code == 0, res.output
    assert f"done: {url} " in res.output
    data = json.loads((out / f"{served.stem}.summary.json").read_text(encoding="utf-8"))
    assert data["video"]["path"] == url and data["captions"] and data["summary"]
    source_info = data["provenance"]["input"]
    assert source_info == {"path": url, "url": url, "file_name": served.name,
                           "sha256": hash_file(served), "size_bytes": served.stat().st_size}
    assert "download" in data["timings_s"]
    assert data["timings_s"]["total"] >= data["timings_s"]["download"]
    assert list(private_tmp.iterdir()) == []
    assert len(chat_server.requests) == 1


def test_cli_url_failures_are_one_line_and_exit_1(site: tuple[str, Path], no_yt_dlp: None,
                                                   tiny_models: dict[str, Path],
                                                   chat_server: Any, tmp_path: Path,
                                                   cli_runner: CliRunner) -> None:
    base, root = site
    make_clip(root / "ok.mp4", seconds=2.0, fps=10, audio=False)
    out = tmp_path / "out"
    args = [f"{base}/gone.mp4", f"{base}/page?v=1", f"{base}/ok.mp4"]
    res = cli_runner.invoke(cli, [*args, *cli_args(tiny_models, out), "--interval", "1",
                                   "--base-url", chat_server.base_url])
    assert res.exit_code == 1, res.output
    failed = [ln for ln in res.output.splitlines() if ln.startswith("failed:")]
    assert failed == [
        f"failed: {args[0]}: download: download failed: HTTP 404 File not found",
        f"failed: {args[1]}: download: the server sent text/html, not media: video pages need "
        f"yt-dlp, which is not installed ({URL_EXTRA})",
    ]
    assert "Traceback" not in res.output
    assert sorted(p.name for p in out.iterdir()) == ["ok.summary.json", "ok.summary.md"]
