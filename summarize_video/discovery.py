"""Turn the paths a user gives into the list of media files to process."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError
from .urls import is_url, url_file_name

VIDEO_EXTENSIONS = frozenset({
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wmv", ".flv", ".mpg", ".mpeg", ".ts", ".mts",
    ".m2ts", ".3gp", ".3g2", ".ogv", ".mxf", ".vob", ".dv", ".asf", ".rm", ".rmvb", ".divx", ".f4v",
})
AUDIO_EXTENSIONS = frozenset({
    ".mp3", ".wav", ".flac", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".wma", ".aiff", ".aif",
    ".ac3", ".eac3", ".amr", ".mka",
})
MEDIA_EXTENSIONS = VIDEO_EXTENSIONS | AUDIO_EXTENSIONS


@dataclass(frozen=True)
class Input:
    # The file to process, or None when the given path could not be used.
    path: Path
    # Why the path could not be used (missing...); None for a usable file.
    error: InputError | None = None
    # An http(s) URL to download first (``path`` is then the file name it gives); else None.
    url: str | None = None


def is_media_name(path: Path) -> bool:
    return path.suffix.lower() in MEDIA_EXTENSIONS


def discover(paths: Iterable[str | Path], *, recursive: bool = False) -> Iterator[Input]:
    """Files named directly are always tried; folders give their media files, sorted.

    A path that does not exist is reported as an ``Input`` with an error, so one bad path never
    stops the others. ``http(s)://`` strings are URL inputs, downloaded when processed.
    """
    seen: set[Path] = set()
    for given in paths:
        if is_url(given):
            yield Input(Path(url_file_name(str(given))), url=str(given).strip())
            continue
        p = Path(given)
        if p.is_dir():
            for f in _walk(p, recursive):
                key = f.resolve()
                if key not in seen:
                    seen.add(key)
                    yield Input(f)
        elif p.exists() or p.is_symlink():
            key = p.resolve()
            if key not in seen:
                seen.add(key)
                yield Input(p)
        else:
            yield Input(p, InputError("no such file or directory", path=str(p),
                                      hint="check the path"))


def _walk(root: Path, recursive: bool) -> list[Path]:
    pattern = root.rglob("*") if recursive else root.glob("*")
    found = [f for f in pattern if is_media_name(f) and f.is_file()]
    return sorted(found, key=lambda f: str(f.relative_to(root)).lower())
