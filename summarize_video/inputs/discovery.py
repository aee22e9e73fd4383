"""Turn the paths a user gives into the list of media files to process.

Folders give the media files in them (sub-folders too with ``recursive``), in a deterministic
order: sorted by their path relative to the folder, case-insensitively. Only regular files are
taken: FIFOs, sockets and device files are skipped without being opened (opening a FIFO would
block), and so are files whose extension is not a media one. A symlink met in a folder (to a
file or a folder) is followed only when its target lies inside the folder given (so nothing
outside it is ever read, and a symlink loop is never walked twice); a path named directly is
the user's choice and is followed. A file reached twice (named twice, or through a symlink)
is processed once.

``include`` and ``exclude`` are glob patterns matched against the path relative to the folder
given (``/``-separated). A pattern matches a path when ``fnmatch`` matches the whole relative
path (where ``*`` also crosses ``/``) or when ``PurePath.match`` matches its trailing parts
(``*.mp4``, ``talks/*.mkv``). A file is kept when it matches some include pattern (or none
are given) and no exclude pattern; a sub-folder that matches an exclude pattern is not entered.
Files named directly are matched by the path as given.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import InputError
from .kinds import TAKES, is_image_name, is_media_name
from .storage import file_uri_path, unsupported_uri, uri_scheme
from .urls import is_url, url_file_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Input:
    # The file to process, or None when the given path could not be used.
    path: Path
    # Why the path could not be used (missing...); None for a usable file.
    error: InputError | None = None
    # An http(s) URL to download first (``path`` is then the file name it gives); else None.
    url: str | None = None


def matches(relative: str, patterns: Sequence[str]) -> bool:
    """Whether the ``/``-separated ``relative`` path matches one of the glob ``patterns``."""
    pure = PurePosixPath(relative)
    for pattern in patterns:
        if fnmatch.fnmatch(relative, pattern):
            return True
        try:
            if pure.match(pattern):
                return True
        except ValueError:  # an empty pattern
            continue
    return False


def selected(relative: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    return (not include or matches(relative, include)) and not matches(relative, exclude)


def discover(paths: Iterable[str | Path], *, recursive: bool = False,
             include: Sequence[str] = (), exclude: Sequence[str] = ()) -> Iterator[Input]:
    """Files named directly are always tried (unless filtered out); folders give their media
    files, sorted.

    A path that does not exist, or that names something other than a regular file (a FIFO, a
    device), is reported as an ``Input`` with an error, so one bad path never stops the others.
    ``http(s)://`` strings are URL inputs, downloaded when processed; ``file://`` URIs are
    local paths; other URI schemes are reported as errors (see ``summarize_video.inputs.storage``).
    """
    include, exclude = tuple(include), tuple(exclude)
    seen: set[str] = set()
    for given in paths:
        if is_url(given):
            yield Input(Path(url_file_name(str(given))), url=str(given).strip())
            continue
        scheme = uri_scheme(given)
        if scheme == "file":
            try:
                given = file_uri_path(str(given))
            except InputError as exc:
                yield Input(Path(str(given)), exc)
                continue
        elif scheme is not None:
            yield Input(Path(str(given)), unsupported_uri(str(given), scheme))
            continue
        p = Path(given)
        if p.is_dir():
            for f in _walk(p, recursive, include, exclude):
                key = os.path.realpath(f)
                if key not in seen:
                    seen.add(key)
                    yield Input(f)
            continue
        try:
            st = p.stat()
        except OSError:
            if p.is_symlink():
                yield Input(p, InputError("broken symbolic link", path=str(p),
                                          hint="check where the link points"))
            else:
                yield Input(p, InputError("no such file or directory", path=str(p),
                                          hint="check the path"))
            continue
        if not selected(p.as_posix(), include, exclude):
            continue
        if not stat.S_ISREG(st.st_mode):
            yield Input(p, InputError(f"not a regular file ({_kind(st.st_mode)})", path=str(p),
                                      hint="name a video or audio file"))
            continue
        if is_image_name(p):
            yield Input(p, image_refused(p))
            continue
        key = os.path.realpath(p)
        if key not in seen:
            seen.add(key)
            yield Input(p)


def image_refused(path: Path) -> InputError:
    """The error for a still picture named as an input."""
    return InputError(f"an image ({path.suffix.lower()}), not a video or audio file",
                      path=str(path), stage="input",
                      hint=f"{TAKES}; to summarize pictures, make them into a video first")


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a file"


def _walk(root: Path, recursive: bool, include: tuple[str, ...], exclude: tuple[str, ...]
          ) -> list[Path]:
    """The media files under ``root``, sorted; never leaves ``root``, never loops."""
    real_root = os.path.realpath(root)
    visited = {real_root}
    found: list[tuple[str, Path]] = []
    pending: list[tuple[Path, str]] = [(root, "")]
    # Folders reached through a symlink are walked after the real ones, so that a file has
    # its real path when it can be reached both ways.
    linked: list[tuple[Path, str]] = []
    while pending or linked:
        if pending:
            folder, prefix = pending.pop()
        else:
            folder, prefix = linked.pop(0)
            real = os.path.realpath(folder)
            if real in visited:  # a symlink loop, or a second way into a walked folder
                continue
            visited.add(real)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            log.warning("cannot list %s: %s", folder, exc.strerror or exc)
            continue
        for entry in entries:
            relative = f"{prefix}{entry.name}"
            try:
                st = os.stat(entry.path)  # follows symlinks; never opens the file
            except OSError:
                log.debug("skipping %s: broken link or unreadable", entry.path)
                continue
            if stat.S_ISDIR(st.st_mode):
                if not recursive:
                    continue
                if matches(relative, exclude):
                    if not entry.is_symlink():  # and no link leads into it either
                        visited.add(os.path.realpath(entry.path))
                    continue
                if entry.is_symlink():
                    if not _inside(os.path.realpath(entry.path), real_root):
                        log.info("not following %s: it points outside %s", entry.path, root)
                        continue
                    linked.append((Path(entry.path), relative + "/"))
                    continue
                visited.add(os.path.realpath(entry.path))
                pending.append((Path(entry.path), relative + "/"))
            elif stat.S_ISREG(st.st_mode):
                path = Path(entry.path)
                if entry.is_symlink() and not _inside(os.path.realpath(path), real_root):
                    log.info("not following %s: it points outside %s", entry.path, root)
                    continue
                if is_media_name(path) and selected(relative, include, exclude):
                    found.append((relative, path))
            elif is_media_name(Path(entry.name)):
                log.info("skipping %s: %s", entry.path, _kind(st.st_mode))
    found.sort(key=lambda item: (item[0].lower(), item[0]))
    return [path for _, path in found]


def _inside(real: str, real_root: str) -> bool:
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)
