"""The HTML report: one self-contained file (inline CSS, thumbnails as data: URIs, no script).

Every string that came from a model, a file or the user (captions, transcript, summary,
titles, the file name) is escaped: captions and transcripts are untrusted. A Content Security
Policy allows nothing but inline style and data: images, so even a mistake here could not load
or run anything. A long video reads from the top: a strip of chapters in proportion to their
length, thumbnails on chapters and key moments, links that open the source at a time, and the
timeline folded by chapter (see ``html_timeline``); the page follows the reader's dark scheme.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..pipeline.cost import format_cost_line
from ..pipeline.results import Result
from ..timeline import format_timestamp
from .html_style import CSP, CSS
from .html_timeline import (
    Row,
    e,
    nearest_anchor,
    nearest_row,
    play_link,
    render_timeline,
    screen_reads,
    source_href,
    thumbnail,
    timeline_parts,
    timeline_rows,
)

__all__ = ["CSP", "CSS", "Row", "e", "nearest_anchor", "render_html", "timeline_rows"]

_LANG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")


def render_html(result: Result, report_dir: Path | None = None) -> str:
    """The report; with ``report_dir`` (the folder it is written to), stamps also link to the
    source file relative to it, at their time."""
    rows = timeline_rows(result.captions, result.transcript)
    chapters = sorted(((c.start, c.title) for c in result.chapters), key=lambda c: c[0])
    end = _end(result, rows, chapters)
    href = source_href(result.video.path, report_dir)
    name = Path(result.video.path).name
    parts = [
        "<!doctype html>",
        f'<html lang="{page_language(result.language)}">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="color-scheme" content="light dark">',
        f'<meta name="generator" content="summarize-video {e(result.version)}">',
        f"<title>{e(name)} — summary</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        f"<header><h1>{e(name)}</h1><p class=\"facts\">{e(_facts(result))}"
        f"{_open_source(href)}</p>",
        *_notes(result.notes),
        *_strip(chapters, rows, end),
        "</header>",
        "<main>",
        *_summary(result.summary),
        '<div class="columns">',
        *_marks("chapters", "Chapters", chapters, rows, href),
        *_marks("key-moments", "Key moments", [(m.t, m.text) for m in result.key_moments],
                rows, href),
        "</div>",
        *_topics(result.topics),
        *render_timeline(rows, timeline_parts(rows, chapters, end), href,
                         screen_reads(rows, result.screen_text)),
        *_cost(result.cost),
        "</main>",
        f"<footer>{_footer(result)}</footer>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(parts)


def page_language(language: str | None) -> str:
    """The ``lang`` of the page: the detected or given language when it is a language tag,
    else ``en`` (the report's own words)."""
    return language if language and _LANG.fullmatch(language) else "en"


def _end(result: Result, rows: Sequence[Row], chapters: Sequence[tuple[float, str]]) -> float:
    """Where the video ends, for proportions: its duration, or the last thing known in it."""
    known = [result.video.duration_s or 0.0, *(r.t for r in rows[-1:]),
             *(c[0] for c in chapters[-1:]), *(s.end for s in result.transcript[-1:])]
    return max(1.0, *known)


def _open_source(href: str | None) -> str:
    return "" if href is None else f' · <a class="source" href="{e(href)}">open the video</a>'


def _strip(chapters: Sequence[tuple[float, str]], rows: Sequence[Row], end: float) -> list[str]:
    """Chapters across the top, each as wide as its share of the video, linked to its fold."""
    if not chapters:
        return []
    out = ['<nav class="strip" aria-label="Chapters">']
    first = chapters[0][0]
    if first > 0:
        width = 100.0 * first / end
        if rows and rows[0].t < first:
            out.append(f'<a class="gap" href="#chapter-0" style="width:{width:.3f}%" '
                       f'title="before the first chapter"></a>')
        else:
            out.append(f'<span class="gap" style="width:{width:.3f}%"></span>')
    stops = [c[0] for c in chapters[1:]] + [max(end, chapters[-1][0])]
    for i, ((start, title), stop) in enumerate(zip(chapters, stops, strict=True), 1):
        width = 100.0 * (stop - start) / end
        label = f"{format_timestamp(start)} {title}"
        out.append(f'<a href="#chapter-{i}" style="width:{width:.3f}%" title="{e(label)}">'
                   f"{e(title)}</a>")
    return [*out, "</nav>"]


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
           rows: Sequence[Row], href: str | None) -> list[str]:
    out = [f'<section id="{anchor}">', f"<h2>{title}</h2>"]
    if not items:
        return [*out, '<p class="empty">none</p>', "</section>"]
    tag = "ol" if anchor == "chapters" else "ul"
    out.append(f'<{tag} class="marks">')
    for t, text in items:
        # The picture beside the text is decorative (an empty alt): the text says it.
        row = nearest_row(rows, t)
        stamp = e(format_timestamp(t))
        link = f'<a class="stamp" href="#{row.anchor}">{stamp}</a>' if row else \
            f'<span class="stamp">{stamp}</span>'
        out.append(f"<li>{thumbnail(row, '')}<span>{link}{play_link(href, t)}"
                   f"{e(text)}</span></li>")
    out.append(f"</{tag}>")
    return [*out, "</section>"]


def _topics(topics: Sequence[str]) -> list[str]:
    if not topics:
        return []
    return ['<section id="topics">', "<h2>Topics</h2>", '<ul class="tags">',
            *(f"<li>{e(t)}</li>" for t in topics), "</ul>", "</section>"]


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
