"""Subtitle streams inside a media file: which there are, and the cues of a text one.

FFmpeg's decoders turn every text format (mov_text, SubRip, ASS/SSA, WebVTT) into ASS dialogue
lines; a cue here is its start and end on the file's timeline and the line's text field, still
with its ASS override tags (``transcription.subtitles_in`` cleans them). Bitmap subtitles (DVD,
Blu-ray PGS, DVB) are pictures: they are listed, never decoded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import isolation

# Codecs whose cues are pictures, by FFmpeg's names (used when the codec's own flag is absent).
BITMAP_CODECS = frozenset({"dvd_subtitle", "dvdsub", "hdmv_pgs_subtitle", "pgssub",
                           "dvb_subtitle", "dvbsub", "xsub", "dvb_teletext"})
_JOB = "summarize_video.media.subtitle_tracks:cues_job"


@dataclass(frozen=True)
class SubtitleTrack:
    # The stream's index in the file.
    index: int
    # FFmpeg's codec name (mov_text, subrip, ass, webvtt, dvd_subtitle...).
    codec: str
    # The language tag as the file gives it ("eng", "pt-BR"); None when absent or "und".
    language: str | None
    # The stream's title, when it has one.
    title: str | None
    # The stream is flagged as the default subtitle track.
    default: bool
    # Its cues are pictures, not text.
    bitmap: bool


@dataclass(frozen=True)
class TrackCues:
    # (start s, end s or None when the packet has no duration, ASS text field) in file order.
    cues: tuple[tuple[float, float | None, str], ...]
    # Reading stopped at the byte limit: the track has more.
    truncated: bool = False


def list_tracks(container: Any) -> tuple[SubtitleTrack, ...]:
    """The subtitle streams of an open container, in file order."""
    import av

    tracks = []
    for stream in container.streams.subtitles:
        ctx = stream.codec_context
        codec = ctx.codec if ctx is not None else None
        name = (getattr(codec, "name", None) or getattr(ctx, "name", None) or "unknown")
        bitmap = bool(getattr(codec, "bitmap_sub", False)) or name in BITMAP_CODECS
        meta = stream.metadata or {}
        language = (meta.get("language") or "").strip() or None
        flag = getattr(av.stream.Disposition, "default", None)
        default = flag is not None and bool(int(stream.disposition) & int(flag))
        tracks.append(SubtitleTrack(
            index=stream.index, codec=name,
            language=None if language in (None, "und") else language,
            title=(meta.get("title") or "").strip() or None, default=default, bitmap=bitmap))
    return tuple(tracks)


def read_cues(path: str | Path, index: int, max_bytes: int,
              counter: list[int] | None = None) -> TrackCues:
    """The cues of text subtitle stream ``index`` of ``path``, in-process: at most
    ``max_bytes`` of text. ``counter[0]`` counts the packets read (progress)."""
    import av

    from .safe_open import open_container

    counter = counter if counter is not None else [0]
    cues: list[tuple[float, float | None, str]] = []
    size = 0
    with open_container(path, "subtitles") as container:
        # Times are measured from the container's start, as frame and audio times are.
        start_time = container.start_time
        origin = float(start_time) / av.time_base if start_time is not None else 0.0
        for packet in container.demux():
            counter[0] += 1
            if packet.stream.index != index or not packet.size or packet.pts is None:
                continue
            tb = packet.time_base
            start = round(float(packet.pts * tb) - origin, 3)
            end = round(start + float(packet.duration * tb), 3) if packet.duration else None
            for text in _texts(packet, av):
                size += len(text.encode("utf-8"))
                if size > max_bytes:
                    return TrackCues(tuple(cues), truncated=True)
                cues.append((start, end, text))
    return TrackCues(tuple(cues))


def _texts(packet: Any, av: Any) -> list[str]:
    """The text fields of the ASS lines a packet decodes to; none when it does not decode."""
    try:
        subs = packet.decode()
    except (av.FFmpegError, ValueError):
        return []
    texts = []
    for sub in subs:
        line = getattr(sub, "ass", None)
        if line is None:
            continue
        text = bytes(line).decode("utf-8", errors="replace")
        fields = text.split(",", 8)  # ReadOrder,Layer,Style,Name,MarginL,R,V,Effect,Text
        texts.append(fields[8] if len(fields) == 9 else text)
    return texts


def track_cues(path: str | Path, index: int, max_bytes: int, timeout: float | None
               ) -> TrackCues:
    """``read_cues`` in a watched child process (see ``isolation``)."""
    (cues,) = list(isolation.run(_JOB, (str(path), index, max_bytes), path=str(path),
                                 stage="subtitles", timeout=timeout))
    return cues  # type: ignore[no-any-return]


def cues_job(progress: isolation.Progress, path: str, index: int, max_bytes: int
             ) -> Iterator[TrackCues]:
    counter = [0]
    progress.watch(lambda: counter[0])
    yield read_cues(path, index, max_bytes, counter)
