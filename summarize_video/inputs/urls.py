"""``http(s)://`` inputs: downloaded to a private temporary folder for one run, then removed.

A URL that names a media file (``.../talk.mp4``) is fetched with the standard library, streamed
to disk under a size cap. Any other URL, or one whose server answers with an HTML page, is a
video platform's page and goes to yt-dlp when it is installed (``pip install
"summarize-video[url]"``); without it, a URL that answers with media is still fetched directly.
Every failure is one ``InputError`` line naming the URL, so the other inputs go on.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from .._version import __version__
from ..errors import InputError
from .kinds import is_media_name

URL_EXTRA = 'pip install "summarize-video[url]"'
# Seconds without a byte from the server before a download is abandoned.
TIMEOUT_S = 60.0
CHUNK = 1 << 20
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
          progress: ProgressCallback | None = None) -> Iterator[Path]:
    """Download ``url`` into a private temporary folder; yield the file; remove the folder."""
    folder = Path(tempfile.mkdtemp(prefix="summarize-video-"))
    try:
        yield _download(url.strip(), folder, max_bytes, timeout, progress)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _error(url: str, message: str, hint: str | None = None) -> InputError:
    return InputError(message, path=url, stage="download", hint=hint)


def _download(url: str, folder: Path, max_bytes: int | None, timeout: float,
              progress: ProgressCallback | None) -> Path:
    media_name = is_media_name(Path(urlparse(url).path))
    if not media_name and _yt_dlp() is not None:
        return _with_yt_dlp(url, folder, max_bytes)
    request = urllib.request.Request(url, headers={"User-Agent": f"summarize-video/{__version__}"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise _error(url, f"download failed: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise _error(url, f"download failed: {exc.reason}") from None
    except (OSError, ValueError) as exc:
        raise _error(url, f"download failed: {exc}") from None
    with response:
        kind = response.headers.get_content_type()
        media_type = kind.startswith(("video/", "audio/")) or kind in MEDIA_TYPES
        if kind == "text/html" or not (media_name or media_type):
            response.close()
            return _with_yt_dlp(url, folder, max_bytes, kind)
        name = _safe_name(response.headers.get_filename() or "") or url_file_name(url)
        return _save(url, response, folder / name, max_bytes, progress)


def _save(url: str, response: Any, target: Path, max_bytes: int | None,
          progress: ProgressCallback | None) -> Path:
    """Stream the body to ``target``, at most ``max_bytes`` of it."""
    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    too_big = _error(url, f"larger than the download cap of {_mb(max_bytes)} MB",
                     hint="raise --max-download-mb")
    if max_bytes is not None and total is not None and total > max_bytes:
        raise too_big
    done = 0
    try:
        with target.open("wb") as out:
            while chunk := response.read(CHUNK):
                done += len(chunk)
                if max_bytes is not None and done > max_bytes:
                    raise too_big
                out.write(chunk)
                if progress is not None:
                    progress("download", done >> 10, total >> 10 if total else None)
    except InputError:
        raise
    except OSError as exc:  # a timeout, a reset connection, a full disk, an incomplete body
        raise _error(url, f"download failed after {done} bytes: {exc}") from None
    if total is not None and done < total:
        raise _error(url, f"download incomplete: {done} of {total} bytes")
    if done == 0:
        raise _error(url, "the server sent an empty file")
    return target


def _yt_dlp() -> Any | None:
    try:
        import yt_dlp
    except ImportError:
        return None
    return yt_dlp


def _with_yt_dlp(url: str, folder: Path, max_bytes: int | None, kind: str | None = None) -> Path:
    """A video platform's page, through yt-dlp."""
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
