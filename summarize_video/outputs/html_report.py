"""The HTML report: one self-contained file (inline CSS, thumbnails as data: URIs, no script).

Every string that came from a model, a file or the user (captions, transcript, summary,
titles, the file name) is escaped: captions and transcripts are untrusted. A Content Security
Policy allows nothing but inline style and data: images, so even a mistake here could not load
or run anything.
"""

from __future__ import annotations

import bisect
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..pipeline.cost import format_cost_line
from ..pipeline.results import Result
from ..timeline import Caption, ScreenText, format_timestamp
from ..transcription.base import Segment

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")

CSS = """
:root { color-scheme: light; --ink: #1d2330; --muted: #5b6474; --line: #dde2ea;
  --soft: #f4f6fa; --accent: #2557c7; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); background: #fff; }
header, main, footer { max-width: 1100px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 28px; }
h1 { font-size: 26px; margin: 0 0 4px; overflow-wrap: anywhere; }
h2 { font-size: 19px; margin: 28px 0 10px; padding-bottom: 4px;
  border-bottom: 2px solid var(--line); }
.facts { color: var(--muted); margin: 0; }
.notes { background: #fff7e0; border-left: 4px solid #e0a800; padding: 8px 12px;
  margin: 16px 0 0; }
.notes p { margin: 2px 0; }
.summary p { white-space: pre-line; margin: 0 0 10px; }
.empty { color: var(--muted); font-style: italic; }
.columns { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 0 32px; }
ol.marks, ul.marks { list-style: none; padding: 0; margin: 0; }
.marks li { padding: 3px 0; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
.stamp { font: 600 13px/1.4 ui-monospace, "SF Mono", Menlo, Consolas, monospace;
  color: var(--accent); margin-right: 8px; white-space: nowrap; }
.tags { list-style: none; padding: 0; margin: 0; display: flex; flex-wrap: wrap; gap: 6px; }
.tags li { background: var(--soft); border: 1px solid var(--line); border-radius: 12px;
  padding: 2px 10px; }
.timeline .head, .timeline .row { display: grid; grid-template-columns: minmax(0, 1fr)
  minmax(0, 1fr); gap: 0 24px; }
.timeline .head { color: var(--muted); font-weight: 600; padding: 4px 0;
  border-bottom: 1px solid var(--line); }
.timeline .row { padding: 10px 0; border-bottom: 1px solid var(--line); }
.timeline .row:target { background: #eef3ff; }
.see { display: flex; gap: 12px; align-items: flex-start; }
.see img { width: 160px; max-width: 40%; height: auto; border-radius: 4px;
  border: 1px solid var(--line); flex: none; background: var(--soft); }
.see p, .say p { margin: 0 0 4px; overflow-wrap: anywhere; }
.see p.read { color: var(--muted); font-size: 14px; }
table.cost { border-collapse: collapse; margin-top: 8px; width: 100%; }
table.cost th, table.cost td { text-align: left; padding: 4px 12px 4px 0;
  border-bottom: 1px solid var(--line); vertical-align: top; }
table.cost td.num, table.cost td.model, table.cost th { white-space: nowrap; }
table.cost td.num { text-align: right; font-variant-numeric: tabular-nums; }
.formula { color: var(--muted); font-size: 13px; }
footer { color: var(--muted); font-size: 13px; padding-top: 24px; padding-bottom: 32px; }
@media (max-width: 700px) { .columns, .timeline .head, .timeline .row {
  grid-template-columns: minmax(0, 1fr); } }
"""


def e(value: object) -> str:
    """Escape any text for HTML content and attribute values."""
    return html.escape(str(value), quote=True)


@dataclass
class Row:
    t: float
    anchor: str
    caption: Caption | None = None
    speech: list[Segment] = field(default_factory=list)


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


def nearest_anchor(rows: Sequence[Row], t: float) -> str | None:
    """The anchor of the row whose time is closest to ``t`` (the earlier one on a tie)."""
    if not rows:
        return None
    times = [r.t for r in rows]
    i = bisect.bisect_left(times, t)
    candidates = [j for j in (i - 1, i) if 0 <= j < len(rows)]
    return rows[min(candidates, key=lambda j: (abs(times[j] - t), j))].anchor


def render_html(result: Result) -> str:
    rows = timeline_rows(result.captions, result.transcript)
    name = Path(result.video.path).name
    parts = [
        "<!doctype html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="summarize-video {e(result.version)}">',
        f"<title>{e(name)} — summary</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        f"<header><h1>{e(name)}</h1><p class=\"facts\">{e(_facts(result))}</p>",
        *_notes(result.notes),
        "</header>",
        "<main>",
        *_summary(result.summary),
        '<div class="columns">',
        *_marks("chapters", "Chapters", [(c.start, c.title) for c in result.chapters], rows),
        *_marks("key-moments", "Key moments", [(m.t, m.text) for m in result.key_moments], rows),
        "</div>",
        *_topics(result.topics),
        *_timeline(rows, result.screen_text),
        *_cost(result.cost),
        "</main>",
        f"<footer>{_footer(result)}</footer>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(parts)


def _facts(result: Result) -> str:
    counts = f"{len(result.captions)} captions, {len(result.transcript)} speech segments"
    return " · ".join([*result.facts(), counts])


def _notes(notes: Sequence[str]) -> list[str]:
    if not notes:
        return []
    return ['<div class="notes" id="notes">', *(f"<p>{e(n)}</p>" for n in notes), "</div>"]


def _summary(summary: str | None) -> list[str]:
    out = ['<section class="summary" id="summary">', "<h2>Summary</h2>"]
    if summary is None or not summary.strip():
        out.append('<p class="empty">No summary: the reasoning model was not called '
                   "(--no-llm, --dry-run) or did not answer (see the notes).</p>")
    else:
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", summary.strip()) if p.strip()]
        out += [f"<p>{e(p)}</p>" for p in paragraphs]
    return [*out, "</section>"]


def _marks(anchor: str, title: str, items: Sequence[tuple[float, str]],
           rows: Sequence[Row]) -> list[str]:
    out = [f'<section id="{anchor}">', f"<h2>{title}</h2>"]
    if not items:
        return [*out, '<p class="empty">none</p>', "</section>"]
    out.append('<ol class="marks">' if anchor == "chapters" else '<ul class="marks">')
    for t, text in items:
        target = nearest_anchor(rows, t)
        stamp = e(format_timestamp(t))
        link = f'<a class="stamp" href="#{target}">{stamp}</a>' if target else \
            f'<span class="stamp">{stamp}</span>'
        out.append(f"<li>{link}{e(text)}</li>")
    out.append("</ol>" if anchor == "chapters" else "</ul>")
    return [*out, "</section>"]


def _topics(topics: Sequence[str]) -> list[str]:
    if not topics:
        return []
    return ['<section id="topics">', "<h2>Topics</h2>", '<ul class="tags">',
            *(f"<li>{e(t)}</li>" for t in topics), "</ul>", "</section>"]


def _reads(rows: Sequence[Row], screen: Sequence[ScreenText]) -> list[list[str]]:
    """Per row, the text read on screen that first appeared in its time (before the second row:
    the first)."""
    out: list[list[str]] = [[] for _ in rows]
    times = [r.t for r in rows]
    for r in sorted(screen, key=lambda r: r.t):
        out[max(0, bisect.bisect_right(times, r.t) - 1)].append(r.text)
    return out


def _timeline(rows: Sequence[Row], screen: Sequence[ScreenText] = ()) -> list[str]:
    out = ['<section class="timeline" id="timeline">', "<h2>Timeline</h2>"]
    if not rows:
        return [*out, '<p class="empty">Nothing was seen or heard.</p>', "</section>"]
    out.append('<div class="head"><div>Seen</div><div>Heard</div></div>')
    for row, reads in zip(rows, _reads(rows, screen), strict=True):
        see = [f'<a class="stamp" href="#{row.anchor}">{e(format_timestamp(row.t))}</a>']
        if row.caption is not None:
            thumb = row.caption.thumbnail
            if thumb and _BASE64.fullmatch(thumb):
                see.append(f'<img src="data:image/jpeg;base64,{thumb}" '
                           f'alt="{e(row.caption.text)}">')
            see.append(f"<p>{e(row.caption.text)}</p>")
        if reads:  # text on screen, beside the caption
            text = see.pop() if row.caption is not None else ""
            read = "".join(f'<p class="read">On screen: {e(t)}</p>' for t in reads)
            see.append(f"<div>{text}{read}</div>")
        say = [f'<p><span class="stamp">{e(format_timestamp(s.start))}</span>{e(s.text)}</p>'
               for s in row.speech]
        out.append(f'<div class="row" id="{row.anchor}"><div class="see">{"".join(see)}</div>'
                   f'<div class="say">{"".join(say)}</div></div>')
    return [*out, "</section>"]


def _money(usd: float | None) -> str:
    if usd is None:
        return "price unknown"
    return "$0" if usd == 0 else f"${usd:.4f}" if usd < 1 else f"${usd:,.2f}"


def _tokens(n: int | None) -> str:
    return "n/a" if n is None else f"{n:,}"


def _cost(block: dict[str, Any]) -> list[str]:
    if not block or "native" not in block:
        return []
    native = block["native"]
    ratio = block.get("ratio", {})
    lines = [
        "<tr><th>Input</th><th>Model</th><th>Tokens in</th><th>Cost</th>"
        "<th>vs. this run</th></tr>",
        "<tr><td>This run: timeline text"
        '<div class="formula">cost includes the answer</div></td>'
        f"<td class=\"model\">{e(block.get('model') or 'none')}</td>"
        f'<td class="num">{_tokens(block.get("prompt_tokens"))}</td>'
        f'<td class="num">{e(_money(block.get("cost_usd")))}</td><td>1×</td></tr>',
    ]
    for key, label in (("gemini", "Native video (Gemini)"), ("gpt4o", "Frames (GPT-4o)")):
        n = native.get(key, {})
        r = ratio.get(key)
        lines.append(
            f"<tr><td>{label}<div class=\"formula\">{e(n.get('formula', ''))}</div></td>"
            f"<td class=\"model\">{e(n.get('model', ''))}</td>"
            f'<td class="num">{_tokens(n.get("tokens"))}</td>'
            f'<td class="num">{e(_money(n.get("cost_usd")))}</td>'
            f"<td>{'' if r is None else e(f'{r:g}× the tokens')}</td></tr>")
    return ['<section id="cost">', "<h2>Cost</h2>", f"<p>{e(format_cost_line(block))}</p>",
            '<table class="cost">', *lines, "</table>", "</section>"]


def _footer(result: Result) -> str:
    s = result.settings
    parts = [
        f"Captions: {s.get('caption_model')} every {s.get('interval_s')} s",
        f"transcript: {s.get('whisper_model')}",
        f"summary: {s.get('llm_model') or 'none'}",
        f"summarize-video {result.version}",
    ]
    total = result.timings_s.get("total")
    if total is not None:
        parts.append(f"{total:.1f} s")
    return e(" · ".join(parts))
