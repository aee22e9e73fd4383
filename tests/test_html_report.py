"""The HTML report for a long video: a chapter strip in proportion, thumbnails on chapters and
key moments, links that open the source at a stamp, the timeline folded by chapter, ``lang``
from the detected language, and a dark scheme; checked in the file and in headless Chromium.

The result comes from the real pipeline (tiny models, a local chat server); the one-hour
variants keep its real thumbnails and change only the times, as a long run would."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from summarize_video import summarize
from summarize_video.outputs.html_report import render_html
from summarize_video.outputs.writers import write_outputs
from summarize_video.pipeline.results import Result
from summarize_video.reasoning.answers import Chapter, KeyMoment
from summarize_video.testing.chat_server import ChatServer
from summarize_video.timeline import Caption
from summarize_video.transcription.base import Segment
from tests.clips import make_clip
from tests.support import ROOT, model_options

ANSWER = {
    "summary": "A clip of colours.",
    "key_moments": [{"t": "00:04", "text": "A moment"}, {"t": "00:08", "text": "Late"}],
    "chapters": [{"start": "00:00", "title": "Opening <b>"},
                 {"start": "00:06", "title": "Ending"}],
    "topics": ["colours"],
}


BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile.mkdir(parents=True, exist_ok=True)
    return subprocess.run([binary, *BROWSER_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HOME": str(profile)}, check=False)


@dataclasses.dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    parents: list[Node]
    text: str = ""

    def inside(self, tag: str) -> Node | None:
        return next((p for p in reversed(self.parents) if p.tag == tag), None)


class Dom(HTMLParser):
    """Every element with its attributes, its ancestors and the text directly in it."""

    VOID = frozenset({"meta", "img", "br", "link", "input", "hr"})

    def __init__(self, page: str) -> None:
        super().__init__()
        self.nodes: list[Node] = []
        self.stack: list[Node] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, list(self.stack))
        self.nodes.append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        while self.stack and self.stack.pop().tag != tag:
            pass

    def handle_data(self, data: str) -> None:
        if self.stack:
            self.stack[-1].text += data

    def all(self, tag: str, **attrs: str) -> list[Node]:
        return [n for n in self.nodes if n.tag == tag
                and all(n.attrs.get(k.rstrip("_")) == v for k, v in attrs.items())]

    def ids(self) -> set[str]:
        return {n.attrs["id"] for n in self.nodes if "id" in n.attrs}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("report")


@pytest.fixture(scope="module")
def result(tiny_models: dict[str, Path], folder: Path) -> Result:
    videos = folder / "my videos"
    videos.mkdir()
    clip = make_clip(videos / "talk #1 100%.mp4", seconds=9.0, fps=10, audio=True)
    with ChatServer(reply=json.dumps(ANSWER)) as srv:
        return summarize(clip, interval=2, base_url=srv.base_url,
                         llm_model="test-model", cache_dir=folder / "cache",
                         **model_options(tiny_models))


def one_hour(result: Result, chapters: bool = True) -> Result:
    """The real result stretched to an hour: a caption every 5 s (720), speech every 7 s."""
    thumbs = [c.thumbnail for c in result.captions]
    captions = tuple(Caption(5.0 * i, f"frame {i}", 5.0 * i + 5, thumbs[i % len(thumbs)])
                     for i in range(720))
    speech = tuple(Segment(7.0 * i, 7.0 * i + 3, f"words {i}") for i in range(514))
    marks = (Chapter(90.0, "Start"), Chapter(600.0, "Second"), Chapter(2400.0, "Long third"),
             Chapter(3300.0, "End")) if chapters else ()
    return dataclasses.replace(
        result, captions=captions, transcript=speech, chapters=marks,
        key_moments=(KeyMoment(1234.0, "Key"),),
        video=dataclasses.replace(result.video, duration_s=3600.0))


def test_chapter_strip_is_proportional_and_links_to_the_chapters(result: Result) -> None:
    dom = Dom(render_html(one_hour(result)))
    (strip,) = dom.all("nav", class_="strip")
    cells = [n for n in dom.nodes if strip in n.parents]
    widths = [float(re.fullmatch(r"width:([0-9.]+)%", c.attrs["style"]).group(1))
              for c in cells]
    # 90 s before the first chapter, then 510, 1800, 900 and 300 s of 3600.
    assert widths == pytest.approx([2.5, 510 / 36, 50.0, 25.0, 300 / 36], abs=1e-3)
    assert [c.attrs["href"] for c in cells] == ["#chapter-0", "#chapter-1", "#chapter-2",
                                               "#chapter-3", "#chapter-4"]
    assert [c.text for c in cells[1:]] == ["Start", "Second", "Long third", "End"]
    assert [n.attrs["id"] for n in dom.all("details")] == [
        "chapter-0", "chapter-1", "chapter-2", "chapter-3", "chapter-4"]


def test_timeline_is_folded_by_chapter(result: Result) -> None:
    long = one_hour(result)
    dom = Dom(render_html(long))
    folds = dom.all("details")
    assert all("open" not in d.attrs for d in folds)  # an hour starts folded
    rows = dom.all("div", class_="row")
    assert len(rows) == 720
    # Every row sits in the fold of its chapter: [0, 90), [90, 600), ... [3300, end).
    starts = {"chapter-0": 0, "chapter-1": 90, "chapter-2": 600, "chapter-3": 2400,
              "chapter-4": 3300}
    ends = {**dict(zip(list(starts)[:-1], list(starts.values())[1:], strict=True)),
            "chapter-4": 3600}
    for row in rows:
        fold = row.inside("details")
        t = float(row.attrs["id"].split("-")[1])
        assert fold is not None and starts[fold.attrs["id"]] <= t < ends[fold.attrs["id"]]
    counts = [re.search(r"\d+", n.text).group() for n in dom.all("span", class_="count")]
    assert counts == ["18", "102", "360", "180", "60"]
    # Without chapters an hour folds in 10-minute blocks; a short video stays open.
    blocks = Dom(render_html(one_hour(result, chapters=False))).all("details")
    assert [d.attrs["id"] for d in blocks] == [f"part-{i}" for i in range(1, 7)]
    short = Dom(render_html(result)).all("details")
    assert short and all("open" in d.attrs for d in short)


def test_thumbnails_on_chapters_and_key_moments(result: Result) -> None:
    dom = Dom(render_html(result))
    thumbs = {c.t: c.thumbnail for c in result.captions}
    for section, times in (("chapters", [c.start for c in result.chapters]),
                           ("key-moments", [m.t for m in result.key_moments])):
        items = [n for n in dom.all("li") if (s := n.inside("section"))
                 and s.attrs["id"] == section]
        images = [n for n in dom.all("img") if n.inside("li") in items]
        assert len(images) == len(items) == len(times) > 0
        # Each the frame nearest its time, a small JPEG embedded (the CSP allows only data:).
        assert [i.attrs["src"] for i in images] == [
            f"data:image/jpeg;base64,{thumbs[min(thumbs, key=lambda c: abs(c - t))]}"
            for t in times]


def test_stamps_open_the_source_relative_to_the_report(result: Result, folder: Path) -> None:
    out = folder / "out"
    (page,) = write_outputs(result, out, ["html"])
    dom = Dom(page.read_text(encoding="utf-8"))
    plays = dom.all("a", class_="play")
    # One per chapter, key moment and timeline row, each at its own time.
    assert len(plays) == len(result.chapters) + len(result.key_moments) + len(result.captions)
    hrefs = {p.attrs["href"] for p in plays}
    assert "../my%20videos/talk%20%231%20100%25.mp4#t=4" in hrefs
    assert "../my%20videos/talk%20%231%20100%25.mp4#t=6" in hrefs
    for href in hrefs:
        path, _, fragment = href.partition("#")
        assert re.fullmatch(r"t=\d+(\.\d+)?", fragment)
        assert (out / urllib.parse.unquote(path)).resolve() == Path(result.video.path)
    (source,) = dom.all("a", class_="source")
    assert source.attrs["href"] == "../my%20videos/talk%20%231%20100%25.mp4"
    # A name that looks like a scheme stays a relative path; rendered with no folder to be
    # relative to, there are no such links.
    odd = dataclasses.replace(result, video=dataclasses.replace(
        result.video, path=str(out / "javascript:alert(1).mp4")))
    (page,) = write_outputs(odd, out, ["html"], stem="odd")
    hrefs = {a.attrs["href"] for a in Dom(page.read_text(encoding="utf-8")).all("a")}
    assert "javascript%3Aalert%281%29.mp4" in hrefs
    assert not any(h.lower().startswith("javascript:") for h in hrefs)
    assert not Dom(render_html(result)).all("a", class_="play")


def test_lang_comes_from_the_detected_language(result: Result) -> None:
    def lang(language: str | None) -> str:
        page = render_html(dataclasses.replace(result, language=language))
        return Dom(page).all("html")[0].attrs["lang"]

    assert lang(result.language) == result.language
    assert lang("de") == "de" and lang("pt-BR") == "pt-BR"
    assert lang(None) == "en" and lang('en"><script>') == "en"


def test_report_in_headless_chromium_light_and_dark(result: Result, folder: Path,
                                                    tmp_path: Path) -> None:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.skip("no chromium or chromium-browser on PATH")
    out = folder / "browser"
    (page,) = write_outputs(one_hour(result), out, ["html"])
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    backgrounds = []
    for scheme, flags in (("light", ()), ("dark", ("--force-dark-mode",))):
        shot = artifacts / f"html-report-{scheme}.png"
        shot.unlink(missing_ok=True)
        run = run_chromium(binary, tmp_path / f"profile-{scheme}", *flags,
                           f"--screenshot={shot}", "--window-size=1280,1400", page.as_uri())
        print(f"screenshot of the one-hour HTML report ({scheme}): {shot}")
        assert shot.is_file(), run.stderr[-2000:]
        with Image.open(shot) as image:
            rgb = image.convert("RGB")
            backgrounds.append(sum(rgb.getpixel((5, 5))) / 3)
            assert len(rgb.getcolors(maxcolors=1 << 20) or []) > 100  # not a blank page
    assert backgrounds[0] > 200 and backgrounds[1] < 60  # white page; dark page
    run = run_chromium(binary, tmp_path / "profile-dom", "--dump-dom",
                       "--virtual-time-budget=3000", page.as_uri())
    dom = Dom(run.stdout)
    strip = dom.all("nav", class_="strip")
    assert strip and len([n for n in dom.nodes if strip[0] in n.parents]) == 5
    assert len(dom.all("details")) == 5 and len(dom.all("div", class_="row")) == 720
    assert {a.attrs["href"][1:] for a in dom.all("a")
            if a.attrs.get("href", "").startswith("#")} <= dom.ids()
