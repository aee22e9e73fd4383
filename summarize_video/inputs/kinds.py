"""Which file names are media: the extensions that folders and URLs are filtered by."""

from __future__ import annotations

from pathlib import PurePath

VIDEO_EXTENSIONS = frozenset({
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wmv", ".flv", ".mpg", ".mpeg", ".ts", ".mts",
    ".m2ts", ".3gp", ".3g2", ".ogv", ".mxf", ".vob", ".dv", ".asf", ".rm", ".rmvb", ".divx", ".f4v",
})
AUDIO_EXTENSIONS = frozenset({
    ".mp3", ".wav", ".flac", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".wma", ".aiff", ".aif",
    ".ac3", ".eac3", ".amr", ".mka",
})
MEDIA_EXTENSIONS = VIDEO_EXTENSIONS | AUDIO_EXTENSIONS


def is_media_name(path: PurePath) -> bool:
    """Whether ``path``'s extension is a video or audio one (case-insensitive)."""
    return path.suffix.lower() in MEDIA_EXTENSIONS
