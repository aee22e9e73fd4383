"""Which file names are media: the extensions that folders and URLs are filtered by, and the
image ones that are refused as images."""

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
# Still pictures: refused with a message that says so (the tool takes video and audio).
IMAGE_EXTENSIONS = frozenset({
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff",
    ".heic", ".heif", ".avif", ".svg", ".ico", ".psd", ".raw", ".cr2", ".nef", ".dng", ".jxl",
})
TAKES = "summarize-video takes video and audio files: mp4, mkv, mov, webm, mp3, wav..."


def is_media_name(path: PurePath) -> bool:
    """Whether ``path``'s extension is a video or audio one (case-insensitive)."""
    return path.suffix.lower() in MEDIA_EXTENSIONS


def is_image_name(path: PurePath) -> bool:
    """Whether ``path``'s extension is a still picture's (``.jpg``, ``.png``...)."""
    return path.suffix.lower() in IMAGE_EXTENSIONS
