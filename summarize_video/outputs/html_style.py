"""The HTML report's policy and style sheet: a light and a dark scheme (the reader's
``prefers-color-scheme`` picks), no fonts or pictures from anywhere."""

from __future__ import annotations

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

CSS = """
:root { color-scheme: light dark; --ink: #1d2330; --muted: #5b6474; --line: #dde2ea;
  --soft: #f4f6fa; --accent: #2557c7; --page: #fff; --note: #fff7e0; --hit: #eef3ff;
  --strip-a: #c9d6f5; --strip-b: #a9bdec; }
@media (prefers-color-scheme: dark) {
  :root { --ink: #e3e7ef; --muted: #9aa3b3; --line: #343b48; --soft: #1f2430;
    --accent: #8fb0ff; --page: #14171d; --note: #3a3015; --hit: #1f2a44;
    --strip-a: #2b3a5e; --strip-b: #3b4f7e; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); background: var(--page); }
header, main, footer { max-width: 1100px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 28px; }
h1 { font-size: 26px; margin: 0 0 4px; overflow-wrap: anywhere; }
h2 { font-size: 19px; margin: 28px 0 10px; padding-bottom: 4px;
  border-bottom: 2px solid var(--line); }
.facts { color: var(--muted); margin: 0; }
.notes { background: var(--note); border-left: 4px solid #e0a800; padding: 8px 12px;
  margin: 16px 0 0; }
.notes p { margin: 2px 0; }
nav.strip { display: flex; width: 100%; margin: 16px 0 0; border-radius: 6px;
  overflow: hidden; border: 1px solid var(--line); min-height: 30px; }
nav.strip a, nav.strip span { display: block; min-width: 0; padding: 5px 6px;
  font-size: 12px; line-height: 20px; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; color: var(--ink); border-right: 1px solid var(--page); }
nav.strip a:nth-of-type(odd) { background: var(--strip-a); }
nav.strip a:nth-of-type(even) { background: var(--strip-b); }
nav.strip .gap { background: var(--soft); }
.summary p { white-space: pre-line; margin: 0 0 10px; }
.empty { color: var(--muted); font-style: italic; }
.columns { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 0 32px; }
ol.marks, ul.marks { list-style: none; padding: 0; margin: 0; }
.marks li { padding: 4px 0; display: flex; gap: 8px; align-items: flex-start; }
.marks li img { width: 80px; height: auto; border-radius: 3px; flex: none;
  border: 1px solid var(--line); background: var(--soft); }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
.stamp { font: 600 13px/1.4 ui-monospace, "SF Mono", Menlo, Consolas, monospace;
  color: var(--accent); margin-right: 8px; white-space: nowrap; }
a.play { font-size: 12px; margin-right: 8px; white-space: nowrap; }
.tags { list-style: none; padding: 0; margin: 0; display: flex; flex-wrap: wrap; gap: 6px; }
.tags li { background: var(--soft); border: 1px solid var(--line); border-radius: 12px;
  padding: 2px 10px; }
.timeline details { border-bottom: 1px solid var(--line); }
.timeline summary { cursor: pointer; padding: 8px 0; font-weight: 600; }
.timeline summary .count { color: var(--muted); font-weight: 400; margin-left: 8px; }
.timeline .head, .timeline .row { display: grid; grid-template-columns: minmax(0, 1fr)
  minmax(0, 1fr); gap: 0 24px; }
.timeline .head { color: var(--muted); font-weight: 600; padding: 4px 0;
  border-bottom: 1px solid var(--line); }
.timeline .row { padding: 10px 0; border-top: 1px solid var(--line); }
.timeline .row:target, .timeline details:target > summary { background: var(--hit); }
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
