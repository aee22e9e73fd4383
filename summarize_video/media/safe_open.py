"""Opening untrusted media: every FFmpeg open in the package goes through ``open_container``.

FFmpeg can do much more than read the file it is given. Playlists (HLS), file lists (concat)
and image sequences make it open other files; some demuxers read devices or the network; a
text file becomes a picture of its text. A file named ``talk.mp4`` that holds an ffconcat list
naming ``~/.ssh/id_rsa`` would put that key into the frames sent to a captioner. So FFmpeg is
only allowed the ``file`` protocol, the path is made absolute (``a:b.mp4`` would otherwise name
a protocol ``a``), and only the demuxers of ordinary media containers may open it
(``ALLOWED_FORMATS``); FFmpeg checks that list after probing the file, before any demuxer reads
its header, and copies it to any demuxer a container opens inside itself.
"""

from __future__ import annotations

import contextlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError, SummarizeVideoError

FIX_NOT_MEDIA = "pass a video or audio file FFmpeg can read"
FIX_INCOMPLETE = ("if it is still being recorded or copied, retry once that has finished; "
                  "otherwise the file was cut short and its index is lost")

# FFmpeg demuxer names that may open a file: media containers and raw audio/video streams.
# Not allowed: playlists and lists of other files (hls, concat, image2, webm_dash_manifest),
# devices and network sources (lavfi, v4l2, x11grab, rtp, rtsp, sdp...), text rendered as
# video (tty, bin, xbin), subtitles, images and game formats.
ALLOWED_FORMATS = (
    # video containers
    "mov", "mp4", "m4a", "3gp", "3g2", "mj2", "matroska", "webm", "avi", "asf", "flv",
    "mpeg", "mpegts", "mxf", "nut", "rm", "dv", "gxf", "ogg", "wtv", "ivf", "yuv4mpegpipe",
    # raw video streams
    "h261", "h263", "h264", "hevc", "vvc", "m4v", "mpegvideo", "vc1", "cavsvideo", "dirac",
    "mjpeg", "obu",
    # audio
    "wav", "w64", "mp3", "flac", "aac", "loas", "ac3", "eac3", "ac4", "dts", "dtshd", "truehd",
    "mlp", "amr", "amrnb", "amrwb", "aiff", "caf", "au", "wv", "ape", "tta", "tak", "mpc",
    "mpc8", "oma", "xwma", "dsf", "shn", "voc", "qcp", "gsm", "spdif",
)
_CONTAINER_OPTIONS = {
    "protocol_whitelist": "file",
    "format_whitelist": ",".join(ALLOWED_FORMATS),
}
# Top-level ISO BMFF (MP4, MOV, 3GP) box types that can open a file.
_BMFF_FIRST = {b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid"}


def check_readable(path: str | Path, stage: str = "probe",
                   error: type[SummarizeVideoError] = InputError) -> Path:
    """A clear error for a path that does not exist, is not a regular file (a FIFO would
    block FFmpeg forever), cannot be read, or is empty (``error``: the class for the last)."""
    p = Path(path)
    if not p.exists():
        raise InputError("no such file", path=str(path), stage=stage, hint="check the path")
    if p.is_dir():
        raise InputError("is a directory", path=str(path), stage=stage,
                         hint="pass a file, or the folder alone")
    if not p.is_file():
        raise InputError("not a regular file", path=str(path), stage=stage,
                         hint="name a video or audio file, not a pipe or a device")
    if not os.access(p, os.R_OK):
        raise InputError("permission denied", path=str(path), stage=stage,
                         hint="make the file readable")
    if p.stat().st_size == 0:
        raise error("file is empty", path=str(path), stage=stage, hint=FIX_NOT_MEDIA)
    return p


def open_container(path: str | Path, stage: str = "probe", *,
                   error: type[SummarizeVideoError] = InputError) -> Any:
    """Open ``path`` for reading with PyAV, safely (see the module's docstring).

    Every failure is a one-line ``error`` naming the file and ``stage`` (missing files and
    permissions are always ``InputError``): an MP4 without its index says that it looks
    incomplete, a playlist or file list that it is refused.
    """
    import av

    p = check_readable(path, stage, error)
    try:
        return av.open(os.path.abspath(p), mode="r", metadata_errors="ignore",
                       container_options=dict(_CONTAINER_OPTIONS))
    except PermissionError as exc:
        raise InputError("permission denied", path=str(path), stage=stage,
                         hint="make the file readable") from exc
    except av.ArgumentError as exc:  # EINVAL: the format whitelist, or a broken header
        name = refused_format(p)
        if name is not None and is_image_format(name):
            raise error(f"an image ({name!r}), not a video or audio file", path=str(path),
                        stage=stage, hint="summarize-video takes video and audio files: "
                        "mp4, mkv, mov, webm, mp3, wav...") from exc
        if name is not None:
            raise error(
                f"refused: FFmpeg would read it as {name!r}, which is not an allowed media "
                "container (playlists and file lists make FFmpeg read other files)",
                path=str(path), stage=stage,
                hint="pass the video or audio file itself") from exc
        raise _not_media(path, stage, error, exc) from exc
    except (av.FFmpegError, OSError, ValueError) as exc:
        scan = scan_bmff(p)
        if scan is not None and not scan.has_index:
            raise error("the file looks incomplete: its MP4 index (moov box) is missing",
                        path=str(path), stage=stage, hint=FIX_INCOMPLETE) from exc
        raise _not_media(path, stage, error, exc) from exc


def _not_media(path: str | Path, stage: str, error: type[SummarizeVideoError],
               exc: BaseException) -> SummarizeVideoError:
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return error(f"not a readable media file ({' '.join(str(reason).split())})",
                 path=str(path), stage=stage, hint=FIX_NOT_MEDIA)


def is_image_format(name: str) -> bool:
    """Whether FFmpeg's demuxer ``name`` is a still picture's (``jpeg_pipe``, ``png_pipe``...)."""
    return name in ("image2pipe", "gif", "apng", "webp") or name.endswith("_pipe")


def refused_format(path: Path) -> str | None:
    """The demuxer FFmpeg picks for ``path`` when it is not an allowed one, else None.

    Opens again with FFmpeg's error log captured: the whitelist check names the demuxer.
    """
    import av
    import av.logging

    level, skip = av.logging.get_level(), av.logging.get_skip_repeated()
    av.logging.set_level(av.logging.ERROR)
    av.logging.set_skip_repeated(False)  # the same message for another file must show
    try:
        with av.logging.Capture(local=True) as logs, \
                contextlib.suppress(av.FFmpegError, OSError, ValueError):
            av.open(os.path.abspath(path), mode="r",
                    container_options=dict(_CONTAINER_OPTIONS)).close()
    finally:
        av.logging.set_level(level)
        av.logging.set_skip_repeated(skip)
    for _, name, message in logs:
        if "not on whitelist" in message:
            return str(name)
    return None


def file_state(path: str | Path) -> tuple[int, int] | None:
    """Size and modification time: a file still being written changes them."""
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


@dataclass(frozen=True)
class BoxScan:
    """The top-level boxes of an ISO BMFF file (MP4, MOV, M4A, 3GP)."""

    # A moov box (the index of every sample) or, for a fragmented file, a moof is there.
    has_index: bool
    # The last box runs past the end of the file: the file was cut short (or is growing).
    truncated: bool


def scan_bmff(path: str | Path, max_boxes: int = 100_000) -> BoxScan | None:
    """Walk the top-level boxes of an MP4-family file; None when it does not look like one.

    Reads 16 bytes per box, so it costs nothing even on large files.
    """
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(8)
            if len(head) < 8 or head[4:8] not in _BMFF_FIRST:
                return None
            seen: set[bytes] = set()
            pos = 0
            for _ in range(max_boxes):
                if pos >= size:
                    break
                f.seek(pos)
                header = f.read(16)
                if len(header) < 8:
                    return BoxScan("moov" in _names(seen) or "moof" in _names(seen), True)
                box_size, kind = struct.unpack(">I4s", header[:8])
                if box_size == 1 and len(header) == 16:
                    box_size = struct.unpack(">Q", header[8:16])[0]
                elif box_size == 0:
                    box_size = size - pos
                if box_size < 8:
                    return None  # not a box structure after all: FFmpeg's verdict stands
                seen.add(kind)
                pos += box_size
            names = _names(seen)
            return BoxScan("moov" in names or "moof" in names, pos > size)
    except OSError:
        return None


def _names(kinds: set[bytes]) -> set[str]:
    return {k.decode("latin-1") for k in kinds}
