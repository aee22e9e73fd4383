"""The HTML report's timeline: rows of what was seen and heard, folded by chapter in
``<details>`` (a one-hour video is a few dozen lines, not hundreds of rows), thumbnails, and
links that open the source video at a time (``VIDEO#t=SECONDS``, relative to the report).

Everything that came from a model or a file is escaped with ``e``.
"""

from __future__ import annotations

import bisect
import html
import os
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..timeline import Caption, ScreenText, format_timestamp
from ..transcription.base import Segment

# A timeline with more rows than this starts folded: every chapter a closed <details>.
FOLD_ROWS = 60
# Without chapters, a timeline longer than this many seconds is folded in blocks of it.
BLOCK_S = 600.0
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def e(value: object) -> str:
    """Escape any text for HTML content and attribute values."""
    return html.escape(str(value), quote=True)


@dataclass
class Row:
    t: float
    anchor: str
    caption: Caption | None = None
    speech: list[Segment] = field(default_factory=list)


@dataclass
class Part:
    """A fold of the timeline: a chapter (``chapter-N``, 1-based; ``chapter-0`` before the
    first), or without chapters a block of ``BLOCK_S`` seconds (``part-N``)."""

    anchor: str
    title: str
    start: float
    end: float
    rows: list[Row]


def timeline_rows(captions: Sequence[Caption], segments: Sequence[Segment]) -> list[Row]:
    """One row per caption with the speech heard until the next; speech alone without pictures.

    Each row has an anchor ``t-SECONDS`` (``t-SECONDS-2``... when two share a second).
    """
    rows = [Row(c.t, "", c) for c in sorted(captions, key=lambda c: c.t)]
    if rows:
        times = [r.t for r in rows]
        for s in segments:
            rows[max(0, bisect.bisect_right(times, s.start) - 1)].speech.append(s)
    else:
        rows = [Row(s.start, "", None, [s]) for s in sorted(segments, key=lambda s: s.start)]
    used: set[str] = set()
    for row in rows:
        anchor, n = f"t-{int(max(0.0, row.t))}", 2
        while anchor in used:
            anchor, n = f"t-{int(max(0.0, row.t))}-{n}", n + 1
        used.add(anchor)
        row.anchor = anchor
    return rows


def nearest_row(rows: Sequence[Row], t: float) -> Row | None:
    """The row whose time is closest to ``t`` (the earlier one on a tie)."""
    if not rows:
        return None
    times = [r.t for r in rows]
    i = bisect.bisect_left(times, t)
    candidates = [j for j in (i - 1, i) if 0 <= j < len(rows)]
    return rows[min(candidates, key=lambda j: (abs(times[j] - t), j))]


def nearest_anchor(rows: Sequence[Row], t: float) -> str | None:
    """The anchor of the row whose time is closest to ``t`` (the earlier one on a tie)."""
    row = nearest_row(rows, t)
    return None if row is None else row.anchor


def thumbnail(row: Row | None, alt: str) -> str:
    """An ``<img>`` of the row's frame (a JPEG data: URI), or nothing."""
    thumb = row.caption.thumbnail if row is not None and row.caption is not None else None
    if not thumb or not _BASE64.fullmatch(thumb):
        return ""
    return f'<img src="data:image/jpeg;base64,{thumb}" alt="{e(alt)}">'


def source_href(video_path: str, report_dir: Path | None) -> str | None:
    """The source file as a URL-encoded path relative to the report's folder, or None when
    there is no folder to be relative to or the input was not a local file. Encoding leaves
    no ``:`` or ``#`` in it, so it can never read as a scheme or a fragment."""
    if report_dir is None or "://" in video_path:
        return None
    source = Path(video_path).resolve()
    try:
        relative = Path(os.path.relpath(source, Path(report_dir).resolve())).as_posix()
    except ValueError:  # another drive on Windows: no relative path exists
        return source.as_uri()
    return urllib.parse.quote(relative, safe="/")


def play_link(href: str | None, t: float) -> str:
    """A link that opens the source at ``t`` seconds (a media fragment), or nothing."""
    if href is None:
        return ""
    seconds = f"{max(0.0, t):.3f}".rstrip("0").rstrip(".")
    return (f'<a class="play" href="{e(href)}#t={seconds}" '
            f'title="open the video at {e(format_timestamp(t))}">&#9654;</a>')


def timeline_parts(rows: Sequence[Row], chapters: Sequence[tuple[float, str]],
                   end: float) -> list[Part]:
    """The timeline's folds: by chapter (sorted by start), else by ``BLOCK_S`` blocks."""
    if chapters:
        bounds = [(f"chapter-{i}", title, start)
                  for i, (start, title) in enumerate(chapters, 1)]
        if rows and rows[0].t < chapters[0][0]:
            bounds.insert(0, ("chapter-0", "Before the first chapter", 0.0))
    else:
        blocks = max(1, int(-(-max(end, rows[-1].t if rows else 0.0) // BLOCK_S)))
        bounds = [(f"part-{i + 1}", "", i * BLOCK_S) for i in range(blocks)]
    starts = [b[2] for b in bounds]
    grouped: list[list[Row]] = [[] for _ in bounds]
    for row in rows:
        grouped[max(0, bisect.bisect_right(starts, row.t) - 1)].append(row)
    stops = [*starts[1:], max(end, starts[-1])]
    parts = [Part(a, title or f"{format_timestamp(s)}–{format_timestamp(stop)}", s, stop, g)
             for (a, title, s), stop, g in zip(bounds, stops, grouped, strict=True)]
    return [p for p in parts if p.rows or p.anchor.startswith("chapter-")]


def screen_reads(rows: Sequence[Row], screen: Sequence[ScreenText]) -> dict[str, list[str]]:
    """Per row (its anchor), the text read on screen that first appeared in its time (before
    the second row: the first)."""
    out: dict[str, list[str]] = {}
    times = [r.t for r in rows]
    for read in sorted(screen, key=lambda r: r.t):
        if rows:
            row = rows[max(0, bisect.bisect_right(times, read.t) - 1)]
            out.setdefault(row.anchor, []).append(read.text)
    return out


def render_timeline(rows: Sequence[Row], parts: Sequence[Part], href: str | None,
                    reads: dict[str, list[str]] | None = None) -> list[str]:
    out = ['<section class="timeline" id="timeline">', "<h2>Timeline</h2>"]
    if not rows:
        out.append('<p class="empty">Nothing was seen or heard.</p>')
    else:
        out.append('<div class="head"><div>Seen</div><div>Heard</div></div>')
    if not rows and not any(p.anchor.startswith("chapter-") for p in parts):
        return [*out, "</section>"]
    fold = len(rows) > FOLD_ROWS
    for part in parts:
        stamp = f"{format_timestamp(part.start)}–{format_timestamp(part.end)}"
        title = "" if part.title == stamp else e(part.title)
        count = f"{len(part.rows)} row{'' if len(part.rows) == 1 else 's'}"
        out.append(f'<details id="{part.anchor}"{"" if fold else " open"}><summary>'
                   f'<span class="stamp">{e(stamp)}</span>{title}'
                   f'<span class="count">{count}</span></summary>')
        out += [_row(row, href, (reads or {}).get(row.anchor, [])) for row in part.rows]
        out.append("</details>")
    return [*out, "</section>"]


def _row(row: Row, href: str | None, reads: Sequence[str] = ()) -> str:
    see = [f'<a class="stamp" href="#{row.anchor}">{e(format_timestamp(row.t))}</a>',
           play_link(href, row.t)]
    text = ""
    if row.caption is not None:
        see.append(thumbnail(row, row.caption.text))
        text = f"<p>{e(row.caption.text)}</p>"
    if reads:  # text on screen, beside the caption
        read = "".join(f'<p class="read">On screen: {e(t)}</p>' for t in reads)
        see.append(f"<div>{text}{read}</div>")
    elif text:
        see.append(text)
    say = [f'<p><span class="stamp">{e(format_timestamp(s.start))}</span>{e(s.text)}</p>'
           for s in row.speech]
    return (f'<div class="row" id="{row.anchor}"><div class="see">{"".join(see)}</div>'
            f'<div class="say">{"".join(say)}</div></div>')
