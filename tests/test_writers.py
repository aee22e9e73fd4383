"""Output formats rendered from a result made by the real pipeline (tiny models, a local chat
server answering JSON): SRT/VTT parsed back, YouTube chapters, plain text, the HTML report
(self-contained, escaped, and rendered by headless Chromium when one is installed), and safe,
distinct output names."""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from summarize_video import summarize
from summarize_video.batch.run import summarize_many
from summarize_video.captioning.transformers import TransformersCaptioner
from summarize_video.media.frames import Frame
from summarize_video.options import FORMATS, Options, parse_formats
from summarize_video.outputs.html_report import nearest_anchor, timeline_rows
from summarize_video.outputs.subtitles import caption_cues, youtube_chapters, youtube_problems
from summarize_video.outputs.writers import output_stems, sanitize_stem, write_outputs
from summarize_video.pipeline.cache import DB_NAME
from summarize_video.pipeline.results import Result
from summarize_video.pipeline.stages import captions_from_json, captions_to_json
from summarize_video.reasoning.answers import Chapter
from summarize_video.testing.chat_server import ChatServer
from summarize_video.timeline import Caption
from summarize_video.transcription.base import Segment
from tests.clips import make_clip
from tests.support import ROOT, model_options

HOSTILE = '<script>alert(1)</script> & "quoted"'
MULTILINE = "first line\n\n  --> second line --->\n"
ANSWER = {
    "summary": "A clip of colours.\n\nSee http://example.com/page and "
               '<img src="http://evil.example/x.png"> <a href="https://evil.example">this</a>.',
    "key_moments": [{"t": "00:04", "text": '<img src=x onerror="alert(2)"> a moment'},
                    {"t": "00:08", "text": "Late moment"}],
    "chapters": [{"start": "00:02", "title": "Colours & <tones>"},
                 {"start": "00:06", "title": "Ending"}],
    "topics": ["colours", "<b>tones</b>"],
}
EXTENSIONS = {"md": "summary.md", "json": "summary.json", "txt": "summary.txt",
              "srt": "captions.srt", "vtt": "captions.vtt", "chapters": "chapters.txt",
              "html": "summary.html"}


class HostileCaptioner:
    """The real tiny captioner, with two frames' captions replaced by hostile text."""

    def __init__(self, inner: TransformersCaptioner) -> None:
        self.inner = inner
        self.model_id = inner.model_id

    def caption(self, frames: Sequence[Frame],
                contexts: Sequence[str | None] | None = None) -> list[str]:
        texts = self.inner.caption(frames)
        fixed = {0.0: HOSTILE, 4.0: MULTILINE}
        return [fixed.get(round(f.t, 3), t) for f, t in zip(frames, texts, strict=True)]


@pytest.fixture(scope="module")
def result(tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Result:
    folder = tmp_path_factory.mktemp("writers")
    clip = make_clip(folder / "clip.mp4", seconds=9.0, fps=10, audio=True)
    captioner = HostileCaptioner(TransformersCaptioner(str(tiny_models["smolvlm"]),
                                                       device="cpu"))
    with ChatServer(reply=json.dumps(ANSWER)) as srv:
        return summarize(clip, interval=2, captioner=captioner, base_url=srv.base_url,
                         llm_model="test-model", cache_dir=folder / "cache",
                         **model_options(tiny_models))


@pytest.fixture(scope="module")
def written(result: Result, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("out")
    paths = write_outputs(result, out, parse_formats("all"))
    return dict(zip(FORMATS, paths, strict=True))


def test_the_pipeline_result_has_what_the_formats_need(result: Result) -> None:
    assert [c.t for c in result.captions] == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert result.captions[0].text == HOSTILE and result.transcript
    assert [c.start for c in result.chapters] == [2.0, 6.0]
    assert [m.t for m in result.key_moments] == [4.0, 8.0]
    for c in result.captions:
        image = Image.open(io.BytesIO(base64.b64decode(c.thumbnail or "")))
        assert image.format == "JPEG" and image.size == (160, 120)


def test_every_format_has_its_name(written: dict[str, Path]) -> None:
    assert set(FORMATS) == set(EXTENSIONS) and parse_formats("all") == FORMATS
    assert Options().formats == ("md", "json")
    assert {f: p.name for f, p in written.items()} == {f: f"clip.{x}"
                                                      for f, x in EXTENSIONS.items()}
    assert all(p.stat().st_size > 0 for p in written.values())


def test_json_has_no_thumbnails(written: dict[str, Path]) -> None:
    data = json.loads(written["json"].read_text(encoding="utf-8"))
    assert all(set(c) == {"t", "until", "text"} for c in data["captions"])
    assert "/9j/" not in written["json"].read_text(encoding="utf-8")  # no base64 JPEG


TIME = {"srt": r"(\d\d):(\d\d):(\d\d),(\d{3})", "vtt": r"(\d\d):(\d\d):(\d\d)\.(\d{3})"}


def parse_cues(text: str, kind: str) -> list[tuple[float, float, str]]:
    """A strict little SRT / WebVTT reader: numbered blocks, a timing line, text lines."""
    blocks = text.split("\n\n")
    assert text.endswith("\n") and not text.endswith("\n\n\n")
    if kind == "vtt":
        assert blocks.pop(0) == "WEBVTT"
    timing = re.compile(f"^{TIME[kind]} --> {TIME[kind]}$")
    cues = []
    for number, block in enumerate((b for b in blocks if b.strip()), 1):
        index, when, *lines = block.strip("\n").split("\n")
        assert index == str(number)
        m = timing.match(when)
        assert m, when
        g = [int(x) for x in m.groups()]
        start = g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000
        end = g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000
        assert lines and all(ln.strip() for ln in lines) and end > start
        assert all("-->" not in ln for ln in lines)
        cues.append((start, end, "\n".join(lines)))
    return cues


@pytest.mark.parametrize("kind", ["srt", "vtt"])
def test_caption_cues_parse_back(result: Result, written: dict[str, Path], kind: str) -> None:
    cues = parse_cues(written[kind].read_text(encoding="utf-8"), kind)
    captions = result.captions
    assert [(s, e) for s, e, _ in cues] == [(c.t, c.until) for c in captions]
    assert cues[-1][1] == pytest.approx(9.0)
    texts = [html.unescape(t) if kind == "vtt" else t for _, _, t in cues]
    assert texts[0] == HOSTILE
    assert texts[2] == "first line\n-> second line ->"
    assert texts[1] == " ".join(captions[1].text.split())
    if kind == "vtt":
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp;" in written[kind].read_text("utf-8")


def test_cue_ends_without_until() -> None:
    caps = [Caption(0.0, "a"), Caption(3.0, "  "), Caption(5.0, "b", 4.0), Caption(10.0, "c")]
    cues = caption_cues(caps, interval=5.0, duration=12.5)
    # Blank captions give no cue; a stale until falls back to the next caption; the last runs
    # one interval, cut at the end of the video.
    assert [(c.start, c.end, c.text) for c in cues] == [(0.0, 5.0, "a"), (5.0, 10.0, "b"),
                                                        (10.0, 12.5, "c")]
    assert caption_cues([Caption(7.0, "end", 7.0)], 5.0, 7.0)[0].end == 7.5


def test_chapters_start_at_zero(written: dict[str, Path]) -> None:
    lines = written["chapters"].read_text(encoding="utf-8").splitlines()
    assert lines == ["0:00 Start", "0:02 Colours & <tones>", "0:06 Ending"]


def test_youtube_chapter_rules() -> None:
    chapters = [Chapter(0.4, "Intro"), Chapter(75.0, "A\nB"), Chapter(75.6, "Same second"),
                Chapter(3725.0, "Late"), Chapter(80.0, "  ")]
    listed = youtube_chapters(chapters)
    assert [(c.start, c.title) for c in listed] == [(0.0, "Intro"), (75.0, "A B"),
                                                    (3725.0, "Late")]
    assert youtube_problems(listed, 4000.0) == []
    assert youtube_problems(listed[:2], 80.0) == ["2 chapter(s); YouTube needs 3",
                                                  "1 chapter(s) shorter than 10 s"]


def test_plain_text(written: dict[str, Path]) -> None:
    text = written["txt"].read_text(encoding="utf-8")
    assert text.startswith("clip.mp4\nduration 00:09")
    assert "Summary\n\nA clip of colours." in text
    assert "Chapters\n\n00:02 Colours & <tones>\n00:06 Ending" in text
    assert "Key moments\n\n00:04 " in text and "00:08 Late moment" in text


def test_html_is_self_contained_and_escaped(result: Result, written: dict[str, Path]) -> None:
    page = written["html"].read_text(encoding="utf-8")
    lower = page.lower()
    assert 'src="http' not in lower and 'href="http' not in lower and "url(" not in lower
    # No script and no event handler in any tag: model text that tried is escaped.
    assert "<script" not in lower and not re.search(r"<[a-z][^>]*\son[a-z]+\s*=", lower)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quoted&quot;" in page
    assert "&lt;img src=&quot;http://evil.example/x.png&quot;&gt;" in page
    assert "Colours &amp; &lt;tones&gt;" in page and "&lt;b&gt;tones&lt;/b&gt;" in page
    assert "Content-Security-Policy" in page
    # One data: thumbnail per caption, chapter and key moment; each caption and speech line
    # shown.
    marks = len(result.chapters) + len(result.key_moments)
    assert page.count('src="data:image/jpeg;base64,') == len(result.captions) + marks
    for c in result.captions[1:]:
        assert html.escape(c.text) in page
    for s in result.transcript:
        assert html.escape(s.text) in page
    # Chapters and key moments link to timeline rows that exist, at the nearest time.
    ids = set(re.findall(r'id="(t-[0-9-]+)"', page))
    links = re.findall(r'href="#(t-[0-9-]+)"', page)
    assert ids == {"t-0", "t-2", "t-4", "t-6", "t-8"} and set(links) <= ids
    for t in ("2", "6", "4", "8"):
        assert f'href="#t-{t}">00:0{t}</a>' in page
    for heading in ("Summary", "Chapters", "Key moments", "Topics", "Timeline", "Cost"):
        assert f"<h2>{heading}</h2>" in page
    assert html.escape(result.cost["native"]["gemini"]["model"]) in page
    assert "native video input would be" in page


def test_timeline_rows_and_anchors() -> None:
    caps = [Caption(0.5, "a"), Caption(0.9, "b"), Caption(5.0, "c")]
    speech = [Segment(0.0, 1.0, "early"), Segment(0.95, 2.0, "mid"), Segment(7.0, 8.0, "late")]
    rows = timeline_rows(caps, speech)
    assert [r.anchor for r in rows] == ["t-0", "t-0-2", "t-5"]
    assert [[s.text for s in r.speech] for r in rows] == [["early"], ["mid"], ["late"]]
    assert [nearest_anchor(rows, t) for t in (0.0, 0.8, 3.0, 99.0)] == ["t-0", "t-0-2",
                                                                       "t-5", "t-5"]
    # Audio only: one row per speech segment.
    rows = timeline_rows([], speech[::-1])
    assert [(r.anchor, r.caption, [s.text for s in r.speech]) for r in rows] == [
        ("t-0", None, ["early"]), ("t-0-2", None, ["mid"]), ("t-7", None, ["late"])]
    assert nearest_anchor([], 3.0) is None


def test_thumbnails_are_cached_and_optional(tmp_path: Path, model_opts: dict[str, Any],
                                            private_cache: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", seconds=2.0, fps=10, audio=False)
    opts: dict[str, Any] = dict(interval=1, no_llm=True, **model_opts)
    first = summarize(clip, **opts)
    again = summarize(clip, **opts)
    off = summarize(clip, thumbnails=False, **opts)
    assert again.cache["captions"] == "hit" and off.cache["captions"] == "hit"
    assert [c.thumbnail for c in again.captions] == [c.thumbnail for c in first.captions]
    assert all(c.thumbnail for c in first.captions)
    assert all(c.thumbnail is None for c in off.captions)
    assert "data:image" not in write_outputs(off, tmp_path, ["html"])[0].read_text("utf-8")
    assert [len(r) for r in captions_to_json(first.captions, {})["captions"]] == [4, 4]
    # Caches written before thumbnails existed still load, and are recomputed once only when
    # an HTML report wants the pictures.
    old, _ = captions_from_json({"captions": [[0.0, 1.0, "x"]], "frames": {}})
    assert old == [Caption(0.0, "x", 1.0)] and old[0].thumbnail is None
    with sqlite3.connect(private_cache / DB_NAME) as db:
        for key, value in db.execute("SELECT key, value FROM entries WHERE stage='captions'"):
            data = json.loads(value)
            data["captions"] = [row[:3] for row in data["captions"]]
            db.execute("UPDATE entries SET value=? WHERE key=?", (json.dumps(data), key))
    plain = summarize(clip, **opts)
    assert plain.cache["captions"] == "hit" and plain.captions[0].thumbnail is None
    report = summarize(clip, formats="html", **opts)
    assert report.cache["captions"] == "miss" and report.captions[0].thumbnail
    assert summarize(clip, **opts).captions[0].thumbnail == report.captions[0].thumbnail


def test_stems_are_sanitised(result: Result, tmp_path: Path) -> None:
    assert sanitize_stem("../../etc/passwd") == "etc_passwd"
    assert sanitize_stem(".hidden") == "hidden" and sanitize_stem("-rf") == "rf"
    assert sanitize_stem("a\nb\x1b\u202e") == "ab" and sanitize_stem(" . ") == "video"
    assert sanitize_stem("CON") == "CON_" and sanitize_stem('a:b*c?"d') == "a_b_c__d"
    long = sanitize_stem("é" * 300)
    assert len(long.encode("utf-8")) <= 120 and set(long) == {"é"}
    out = tmp_path / "out"
    (path,) = write_outputs(result, out, ["json"], stem="../../evil\n")
    assert path.parent == out and path.name == "evil.summary.json"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["evil.summary.json"]


def test_output_stems_are_distinct_and_deterministic() -> None:
    paths = [Path("b/clip.mp4"), Path("a/clip.mp4"), Path("a/clip.mov"), Path("x/Clip.mp4"),
             Path("c/talk.mp4")]
    stems = output_stems(paths)
    assert stems == {Path("a/clip.mov"): "clip", Path("a/clip.mp4"): "clip-a",
                     Path("b/clip.mp4"): "clip-b", Path("x/Clip.mp4"): "Clip-x",
                     Path("c/talk.mp4"): "talk"}
    assert output_stems(list(reversed(paths))) == stems
    # A suffix never takes another input's own stem; same folder names fall back to a hash.
    more = output_stems([Path("a/clip.mp4"), Path("b/clip.mp4"), Path("clip-b.mp4"),
                         Path("x/b/clip.mp4")])
    assert more[Path("clip-b.mp4")] == "clip-b" and more[Path("a/clip.mp4")] == "clip"
    assert len({s.casefold() for s in more.values()}) == 4
    assert re.fullmatch(r"clip-(mp4|[0-9a-f]{8})", more[Path("b/clip.mp4")])


def test_batch_with_two_inputs_of_one_name(tmp_path: Path,
                                           model_opts: dict[str, Any]) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        make_clip(tmp_path / folder / "clip.mp4", seconds=1.0, fps=10, audio=False)
    out = tmp_path / "out"
    outcomes = list(summarize_many([tmp_path / "b", tmp_path / "a"], no_llm=True,
                                   formats=("json",), output_dir=out,
                                   **model_opts))
    assert all(o.ok for o in outcomes)
    assert {o.outputs[0].name: Path(o.path).parent.name for o in outcomes} == {
        "clip.summary.json": "a", "clip-b.summary.json": "b"}


BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
# Appended to a test copy of the report: records what the browser loaded into the DOM.
PROBE = """<script>
addEventListener("load", () => {
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({
    images: Array.from(document.images, i => [i.complete, i.naturalWidth, i.naturalHeight]),
    headings: Array.from(document.querySelectorAll("h2"), h => h.textContent),
  });
  document.body.appendChild(out);
});
</script>"""
CSP_META = re.compile(r'<meta http-equiv="Content-Security-Policy"[^>]*>')


def run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile.mkdir(parents=True, exist_ok=True)
    return subprocess.run([binary, *BROWSER_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HOME": str(profile)}, check=False)


def dump_dom_with_probe(binary: str, page: Path, folder: Path, keep_csp: bool) -> str:
    text = page.read_text(encoding="utf-8")
    if not keep_csp:
        text = CSP_META.sub("", text)
    copy = folder / ("probe-csp.html" if keep_csp else "probe.html")
    copy.write_text(text.replace("</body>", f"{PROBE}</body>"), encoding="utf-8")
    return run_chromium(binary, folder / f"profile-{copy.stem}", "--dump-dom",
                        "--virtual-time-budget=5000", copy.as_uri()).stdout


def test_html_renders_in_headless_chromium(result: Result, written: dict[str, Path],
                                           tmp_path: Path) -> None:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.skip("no chromium or chromium-browser on PATH")
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    shot = artifacts / "writers-report.png"
    shot.unlink(missing_ok=True)
    shutil.copyfile(written["html"], artifacts / "writers-report.html")
    run = run_chromium(binary, tmp_path / "profile", f"--screenshot={shot}",
                       "--window-size=1280,2000", written["html"].as_uri())
    print(f"screenshot of the HTML report: {shot}")
    assert shot.is_file(), run.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(shot) as image:
        assert image.size == (1280, 2000)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 100  # text, thumbnails and rules: not a blank page

    dom = dump_dom_with_probe(binary, written["html"], tmp_path, keep_csp=False)
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    probe = json.loads(html.unescape(found.group(1)))
    marks = len(result.chapters) + len(result.key_moments)
    assert probe["images"] == [[True, 160, 120]] * (len(result.captions) + marks)
    assert probe["headings"] == ["Summary", "Chapters", "Key moments", "Topics", "Timeline",
                                 "Cost"]
    assert dom.count('<img src="data:image/jpeg;base64,') == len(result.captions) + marks
    # The report's own policy forbids scripts: the same probe does not run in the real file.
    dom = dump_dom_with_probe(binary, written["html"], tmp_path, keep_csp=True)
    assert "<h2>Timeline</h2>" in dom and '<pre id="probe">' not in dom


MARKDOWN_ATTACK = (
    "A plain sentence stays.\n\n<script>alert(1)</script> <img src=x onerror=alert(2)>\n"
    "Read [the docs](https://example.com/docs), not [this](javascript:alert(1)) or "
    "[that](&#x6A;avascript:alert(3)).\n![x](https://tracker.example/p.gif)\n"
    "[ref]: javascript:alert(4)\n![beacon][ref]"
)


def test_markdown_makes_model_html_links_and_images_inert(result: Result,
                                                          tmp_path: Path) -> None:
    hostile = dataclasses.replace(
        result, summary=MARKDOWN_ATTACK,
        chapters=(Chapter(2.0, "Intro <b onmouseover=alert(5)>x</b>"),),
        topics=("![t](https://tracker.example/t.gif)",))
    text = write_outputs(hostile, tmp_path, ["md"])[0].read_text(encoding="utf-8")
    lower = text.lower()
    assert "<script" not in lower and "<img" not in lower and "<b " not in lower
    assert not re.search(r"\]\(\s*(javascript|&#)", lower)  # no link to a script
    assert "![" not in text and not re.search(r"^\[ref\]:", text, re.MULTILINE)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text  # shown as text
    assert "A plain sentence stays." in text
    assert "[the docs](https://example.com/docs)" in text  # a normal link survives
    assert "x (image: `https://tracker.example/p.gif`)" in text  # the address, unfetched
    assert "this (link: `javascript:alert(1)`)" in text
    assert "**00:02** Intro &lt;b onmouseover=alert(5)&gt;x&lt;/b&gt;" in text
    assert "t (image: `https://tracker.example/t.gif`)" in text
