"""Probe a media file: duration, frame rate, display size, rotation and streams."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..limits import Limits
from .safe_open import FIX_NOT_MEDIA, check_readable, open_container, scan_bmff
from .subtitle_tracks import SubtitleTrack, list_tracks

__all__ = ["FIX_NOT_MEDIA", "MediaInfo", "check_readable", "open_container", "probe"]


@dataclass(frozen=True)
class MediaInfo:
    # The file as given.
    path: str
    # Seconds, from the container or stream headers; None when the file does not say.
    duration_s: float | None
    # Display width and height in pixels: rotation and pixel aspect ratio applied.
    width: int | None
    height: int | None
    # Average frame rate of the main video stream.
    fps: float | None
    # Clockwise degrees the stored picture must be turned to be upright (0, 90, 180, 270).
    rotation: int
    # Whether the file has a video stream (cover art does not count) and an audio stream.
    has_video: bool
    has_audio: bool
    video_codec: str | None = None
    audio_codec: str | None = None
    # The file ends before its last MP4 box does: cut short, or still being written.
    truncated: bool = False
    # What the header claimed when the streams end well before it (``duration_s`` is then
    # where they really end); None when the header was right.
    claimed_duration_s: float | None = None
    # The subtitle streams, text and bitmap, in file order.
    subtitles: tuple[SubtitleTrack, ...] = ()


def main_video_stream(container: Any) -> Any | None:
    """The main video stream: never an attached picture (cover art) or a still thumbnail."""
    streams = [s for s in container.streams.video if not is_attached_picture(s)]
    if not streams:
        return None
    # Prefer the default disposition, then the largest picture.
    def rank(s: Any) -> tuple[int, int]:
        default = int(bool(getattr(s, "disposition", 0) & _disposition("default")))
        cc = s.codec_context
        return default, (cc.width or 0) * (cc.height or 0)

    return max(streams, key=rank)


def is_attached_picture(stream: Any) -> bool:
    return bool(getattr(stream, "disposition", 0) & _disposition("attached_pic"))


def _disposition(name: str) -> int:
    import av

    flag = getattr(av.stream.Disposition, name, None)
    return int(flag) if flag is not None else 0


def rotation_of(stream: Any, first_frame: Any | None = None) -> int:
    """Clockwise degrees to turn the stored picture upright, from the display matrix."""
    deg = None
    if first_frame is not None:
        deg = getattr(first_frame, "rotation", None)
    if deg is None:
        tag = (stream.metadata or {}).get("rotate")
        if tag is not None:
            # The legacy tag is already clockwise.
            return int(float(tag)) % 360
        return 0
    # FFmpeg reports the display matrix angle counter-clockwise; upright needs the opposite.
    return round(-float(deg)) % 360


def sample_aspect(stream: Any) -> Fraction:
    """Pixel aspect ratio as FFmpeg guesses it: the container's when set, else the codec's."""
    for sar in (stream.sample_aspect_ratio, stream.codec_context.sample_aspect_ratio):
        if sar and sar > 0:
            return Fraction(sar)
    return Fraction(1)


def display_size(width: int, height: int, sar: Fraction, rotation: int) -> tuple[int, int]:
    """Stored size to display size: stretch width by the pixel aspect, swap for 90/270."""
    w = max(1, round(width * sar)) if sar != 1 else width
    if rotation in (90, 270):
        return height, w
    return w, height


def container_origin(container: Any) -> float:
    """Container start time in seconds: frame and audio times are measured from here."""
    import av

    start = container.start_time
    return float(start) / av.time_base if start is not None else 0.0


def probe(path: str | Path, limits: Limits | None = None) -> MediaInfo:
    """Read the headers (and the first video frame for rotation) of a media file.

    ``limits`` (default ``Limits()``) are checked on what the headers claim before any frame
    is decoded: a picture too large, a frame rate too high, a duration too long is an
    ``InputError`` naming the limit.
    """
    import av

    limits = limits or Limits()
    name = str(path)
    with open_container(path) as container:
        video = main_video_stream(container)
        audio = container.streams.best("audio") if container.streams.audio else None
        if video is None and audio is None:
            raise InputError("no video or audio stream", path=str(path), hint=FIX_NOT_MEDIA)
        duration = float(container.duration) / av.time_base if container.duration else None
        limits.check_duration(name, duration)
        width = height = None
        fps = None
        rotation = 0
        vcodec = acodec = None
        if video is not None:
            vcodec = video.codec_context.name
            limits.check_picture(name, video.codec_context.width or 0,
                                 video.codec_context.height or 0)
            rate = video.average_rate or video.guessed_rate
            fps = float(rate) if rate else None
            limits.check_fps(name, float(video.average_rate) if video.average_rate else None)
            first = _first_frame(container, video)
            rotation = rotation_of(video, first)
            w = video.codec_context.width or (first.width if first is not None else 0)
            h = video.codec_context.height or (first.height if first is not None else 0)
            limits.check_picture(name, w, h)
            if w and h:
                width, height = display_size(w, h, sample_aspect(video), rotation)
            if duration is None and video.duration and video.time_base:
                duration = float(video.duration * video.time_base)
        if audio is not None:
            acodec = audio.codec_context.name
            if duration is None and audio.duration and audio.time_base:
                duration = float(audio.duration * audio.time_base)
        claimed = duration
        if duration is not None and duration > LIE_MARGIN_S:
            end = _streams_end(container)
            if end is not None and end < duration - max(LIE_MARGIN_S, 0.02 * duration):
                duration = end  # the header claims more than the streams hold
        limits.check_duration(name, duration)
        subtitles = list_tracks(container)
    scan = scan_bmff(path)
    return MediaInfo(
        path=str(path),
        duration_s=duration,
        width=width,
        height=height,
        fps=fps,
        rotation=rotation,
        has_video=video is not None,
        has_audio=audio is not None,
        video_codec=vcodec,
        audio_codec=acodec,
        truncated=scan is not None and scan.truncated,
        claimed_duration_s=claimed if claimed != duration else None,
        subtitles=subtitles,
    )


# A header's duration may exceed where the streams end by this much (or 2%) before the
# streams' end is taken instead.
LIE_MARGIN_S = 2.0
# Packets read after seeking to the claimed end before giving up (the last keyframe of a long
# GOP, or an index that does not reach the end, can be far back).
_END_PACKETS = 20_000


def _streams_end(container: Any) -> float | None:
    """Where the packets of the file really end, in seconds from the container's start:
    seek towards the claimed end (seeking lands on the last keyframe when the claim is past
    the streams) and read the packets from there. None when that cannot be told cheaply."""
    import av

    duration = container.duration
    try:
        container.seek(int(duration), backward=True, any_frame=False)
        end: float | None = None
        for n, packet in enumerate(container.demux()):
            if n >= _END_PACKETS:
                return None
            if packet.pts is None or packet.time_base is None:
                continue
            t = float((packet.pts + (packet.duration or 0)) * packet.time_base)
            end = t if end is None else max(end, t)
    except (av.FFmpegError, ValueError, OverflowError):
        return None
    return None if end is None else end - container_origin(container)


def _first_frame(container: Any, stream: Any) -> Any | None:
    import av

    try:
        for frame in container.decode(stream):
            return frame
    except (av.FFmpegError, ValueError):
        return None
    return None
