"""``http(s)://`` inputs: downloaded to a private temporary folder for one run, then removed.

A URL that names a media file (``.../talk.mp4``) is fetched with the standard library, streamed
to disk under a size cap that also bounds what a compressed (``Content-Encoding: gzip``) body
inflates to, and abandoned when the server sends too little for too long. Redirects are
followed only to ``http(s)://``; a ``user:password@`` in the URL is sent as HTTP Basic
authentication (only to the URL's own host) and never shown. Any other URL, or one whose server
answers with an HTML page, is a video platform's page and goes to yt-dlp when it is installed
(``pip install "summarize-video[url]"``); without it, a URL that answers with media is still
fetched directly. Every failure is one ``InputError`` line naming the URL, so the other inputs
go on.

The temporary folder is removed when the download fails, when the input is done and on
interrupts (``try``/``finally``); a process killed outright (``kill -9``) cannot, so folders
are named ``summarize-video-download-<pid>-...`` and the next download sweeps those whose
process is gone.
"""

from __future__ import annotations

import base64
import functools
import os
import re
import shutil
import stat
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlparse

from .._version import __version__
from ..errors import InputError
from ..redaction import redact_text, redact_url, url_userinfo
from .kinds import is_media_name

URL_EXTRA = 'pip install "summarize-video[url]"'
# Seconds without a byte from the server before a download is abandoned.
TIMEOUT_S = 60.0
CHUNK = 1 << 20
# A server must send at least MIN_WINDOW_BYTES in every RATE_WINDOW_S seconds (about 1 KiB/s),
# or the download is abandoned: a byte every 30 s would otherwise never end.
RATE_WINDOW_S = 60.0
MIN_WINDOW_BYTES = 64 << 10
# Temporary download folders: ``<prefix><pid>-<random>``, swept once their process is gone.
DOWNLOAD_PREFIX = "summarize-video-download-"
# Content-Encodings a body may come in; the inflated size is what the size cap counts.
INFLATED = frozenset({"gzip", "x-gzip", "deflate"})
MAX_NAME = 120
# Content types that are media even without a media extension in the URL.
MEDIA_TYPES = frozenset({"application/octet-stream", "application/mp4", "application/ogg",
                         "application/x-matroska", "application/mxf"})
# yt-dlp: one file holding picture and sound (merging separate streams needs an ffmpeg binary);
# 720p is plenty for captions.
YT_DLP_FORMAT = "best[height<=720]/best"

_URL = re.compile(r"^https?://[^/\s]", re.IGNORECASE)
_UNSAFE = re.compile(r"[^\w.\- \[\]()]+")

ProgressCallback = Callable[[str, int, "int | None"], None]


def is_url(value: object) -> bool:
    """True for an ``http://`` or ``https://`` string (a ``Path`` is never a URL)."""
    return isinstance(value, str) and bool(_URL.match(value.strip()))


def url_file_name(url: str) -> str:
    """A safe local file name from the URL's path: ``.../My%20Talk.mp4`` -> ``My Talk.mp4``."""
    return _safe_name(Path(unquote(urlparse(url).path)).name) or "download"


@contextmanager
def fetch(url: str, *, max_bytes: int | None = None, timeout: float = TIMEOUT_S,
          progress: ProgressCallback | None = None, rate_window_s: float = RATE_WINDOW_S,
          min_window_bytes: int = MIN_WINDOW_BYTES) -> Iterator[Path]:
    """Download ``url`` into a private temporary folder; yield the file; remove the folder
    (on success, on any error and on interrupts)."""
    sweep_stale_downloads()
    folder = Path(tempfile.mkdtemp(prefix=f"{DOWNLOAD_PREFIX}{os.getpid()}-"))
    try:
        pace = _Pace(url.strip(), rate_window_s, min_window_bytes)
        yield _download(url.strip(), folder, max_bytes, timeout, progress, pace)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def sweep_stale_downloads(root: Path | None = None) -> list[Path]:
    """Remove the download folders under ``root`` (default: the temporary folder) that this
    user's processes left when they were killed outright; returns those removed."""
    if os.name != "posix":  # no cheap, harmless liveness check
        return []
    removed = []
    for folder in Path(root or tempfile.gettempdir()).glob(f"{DOWNLOAD_PREFIX}*"):
        pid = folder.name[len(DOWNLOAD_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        try:
            st = folder.lstat()
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def _error(url: str, message: str, hint: str | None = None) -> InputError:
    return InputError(redact_text(message), path=redact_url(url), stage="download", hint=hint)


class _Pace:
    """Fails a download whose server sends fewer than ``min_bytes`` in ``window_s`` seconds."""

    def __init__(self, url: str, window_s: float, min_bytes: int) -> None:
        self.url, self.window_s, self.min_bytes = url, window_s, min_bytes
        self.since, self.mark = time.monotonic(), 0

    def check(self, done: int) -> None:
        now = time.monotonic()
        if now - self.since < self.window_s:
            return
        if done - self.mark < self.min_bytes:
            raise _error(self.url, f"the server is too slow: {done - self.mark} bytes in the "
                         f"last {now - self.since:.0f} s (at least {self.min_bytes} per "
                         f"{self.window_s:g} s are needed)", hint="retry later")
        self.since, self.mark = now, done


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects to ``http(s)://`` only; any other scheme is one ``InputError``."""

    def __init__(self, url: str) -> None:
        self.url = url

    def http_error_302(self, req: Any, fp: Any, code: int, msg: str, headers: Any) -> Any:
        location = headers.get("location") or headers.get("uri")
        if location:
            target = urljoin(req.full_url, location)
            if urlparse(target).scheme.lower() not in ("http", "https"):
                fp.close()
                raise _error(self.url, f"redirected to {redact_url(target)}: only http:// and "
                             "https:// redirects are followed", hint="pass an http(s) URL")
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def _open(url: str, timeout: float) -> Any:
    """The server's response to a GET of ``url`` (userinfo sent as Basic authentication)."""
    bare, user, password = url_userinfo(url)
    request = urllib.request.Request(bare, headers={
        "User-Agent": f"summarize-video/{__version__}", "Accept-Encoding": "identity"})
    if user is not None:
        token = base64.b64encode(f"{user}:{password or ''}".encode()).decode("ascii")
        # Unredirected: never sent on to another host a redirect names.
        request.add_unredirected_header("Authorization", f"Basic {token}")
    opener = urllib.request.build_opener(_HttpOnlyRedirects(url))
    try:
        return opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise _error(url, f"download failed: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise _error(url, f"download failed: {exc.reason}") from None
    except (OSError, ValueError) as exc:
        raise _error(url, f"download failed: {exc}") from None


def _download(url: str, folder: Path, max_bytes: int | None, timeout: float,
              progress: ProgressCallback | None, pace: _Pace) -> Path:
    media_name = is_media_name(Path(urlparse(url).path))
    if not media_name and _yt_dlp() is not None:
        return _with_yt_dlp(url, folder, max_bytes, progress=progress)
    with _open(url, timeout) as response:
        kind = response.headers.get_content_type()
        media_type = kind.startswith(("video/", "audio/")) or kind in MEDIA_TYPES
        if kind == "text/html" or not (media_name or media_type):
            response.close()
            return _with_yt_dlp(url, folder, max_bytes, kind, progress)
        name = _safe_name(response.headers.get_filename() or "") or url_file_name(url)
        return _save(url, response, folder / name, max_bytes, progress, pace)


def _inflater(url: str, response: Any) -> Any | None:
    """A decompressor for the body's Content-Encoding; None when it is not encoded."""
    encoding = (response.headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding not in INFLATED:
        raise _error(url, f"the server sent the file {encoding}-encoded, which is not read",
                     hint="download it another way and pass the file")
    return zlib.decompressobj(wbits=47)  # gzip or zlib, by its header


def _pieces(inflate: Any | None, chunk: bytes) -> Iterator[bytes]:
    """``chunk`` inflated in pieces of at most ``CHUNK`` bytes (a bomb never fills memory)."""
    if inflate is None:
        yield chunk
        return
    yield inflate.decompress(chunk, CHUNK)
    while inflate.unconsumed_tail:
        yield inflate.decompress(inflate.unconsumed_tail, CHUNK)


def _save(url: str, response: Any, target: Path, max_bytes: int | None,
          progress: ProgressCallback | None, pace: _Pace) -> Path:
    """Stream the body to ``target``, at most ``max_bytes`` of it once inflated."""
    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    too_big = _error(url, f"larger than the download cap of {_mb(max_bytes)} MB",
                     hint="raise --max-download-mb")
    if max_bytes is not None and total is not None and total > max_bytes:
        raise too_big
    inflate = _inflater(url, response)
    read = getattr(response, "read1", response.read)  # returns what has come, not CHUNK
    received = done = 0
    try:
        with target.open("wb") as out:
            while chunk := read(CHUNK):
                received += len(chunk)
                for piece in _pieces(inflate, chunk):
                    done += len(piece)
                    if max_bytes is not None and done > max_bytes:
                        raise too_big
                    out.write(piece)
                pace.check(received)
                if progress is not None:
                    progress("download", received >> 10, total >> 10 if total else None)
    except InputError:
        raise
    except (OSError, zlib.error) as exc:  # a timeout, a reset, a full disk, a broken body
        raise _error(url, f"download failed after {received} bytes: {exc}") from None
    if (total is not None and received < total) or (inflate is not None and not inflate.eof):
        raise _error(url, f"download incomplete: {received} of {total or '?'} bytes")
    if done == 0:
        raise _error(url, "the server sent an empty file")
    return target


def _yt_dlp() -> Any | None:
    try:
        import yt_dlp
    except ImportError:
        return None
    return yt_dlp


def _with_yt_dlp(url: str, folder: Path, max_bytes: int | None, kind: str | None = None,
                 progress: ProgressCallback | None = None) -> Path:
    """A video platform's page, through yt-dlp (its bytes reported as ``download`` progress
    in KiB, as a plain download's)."""
    yt_dlp = _yt_dlp()
    if yt_dlp is None:
        what = f"the server sent {kind}, not media" if kind else "not a media file URL"
        raise _error(url, f"{what}: video pages need yt-dlp, which is not installed",
                     hint=URL_EXTRA)
    options = {
        "outtmpl": str(folder / "%(title).80B [%(id)s].%(ext)s"),
        "format": YT_DLP_FORMAT, "restrictfilenames": True, "noplaylist": True,
        "playlist_items": "1", "quiet": True, "no_warnings": True, "noprogress": True,
        "max_filesize": max_bytes,
    }
    if progress is not None:
        options["progress_hooks"] = [functools.partial(_yt_dlp_progress, progress)]
    try:
        with yt_dlp.YoutubeDL(options) as ydl:
            ydl.download([url])
    except Exception as exc:  # yt-dlp's DownloadError and anything its extractors raise
        text = " ".join(str(exc).split()).removeprefix("ERROR: ")
        raise _error(url, f"yt-dlp could not download it: {text}") from None
    files = [f for f in folder.iterdir() if f.is_file() and f.suffix not in (".part", ".ytdl")]
    if not files:
        cap = f" (over the {_mb(max_bytes)} MB cap?)" if max_bytes else ""
        raise _error(url, f"yt-dlp downloaded nothing{cap}", hint="raise --max-download-mb"
                     if max_bytes else None)
    return max(files, key=lambda f: f.stat().st_size)


def _yt_dlp_progress(progress: ProgressCallback, status: dict[str, Any]) -> None:
    """One of yt-dlp's progress reports as ``progress("download", KiB, total KiB)``."""
    done = status.get("downloaded_bytes")
    if not isinstance(done, int | float):
        return
    total = status.get("total_bytes") or status.get("total_bytes_estimate")
    progress("download", int(done) >> 10,
             int(total) >> 10 if isinstance(total, int | float) and total else None)


def _safe_name(name: str) -> str:
    name = Path(name.replace("\\", "/")).name
    name = _UNSAFE.sub("_", name).strip(" ._")
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: MAX_NAME - len(ext) - 1] + dot + ext) if dot and len(ext) <= 8 \
            else name[:MAX_NAME]
    return name


def _mb(max_bytes: int | None) -> str:
    return f"{(max_bytes or 0) / 1e6:g}"
