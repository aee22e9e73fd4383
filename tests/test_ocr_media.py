"""Reading the screen on real media with the real PP-OCR weights: the hard subtitles and the slide
title of the shared TED clip, and nothing made up on a clip without text."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from summarize_video.media.frames import Frame
from summarize_video.ocr.base import MIN_SCORE
from summarize_video.ocr.registry import create_reader
from summarize_video.options import Options
from summarize_video.pipeline.results import Result
from summarize_video.pipeline.summarizer import summarize
from summarize_video.timeline import ScreenText
from summarize_video.transcription.base import Transcript
from tests.support import media_file

pytestmark = [pytest.mark.slow, pytest.mark.media]

TED = "speech_video/talk_ted_clip_hardsubs_videolingo_demo.mp4"
BIRTHDAY = "noaudio_video/noaudio_video_llama_birthday.mp4"
INTERVAL = 5.0
# The hard-subtitle lines the manifest names, and when each is on screen (seconds, read off
# the clip one second apart).
SHOWN = {
    "Sometimes you think that you're handing out a worksheet": (0.0, 2.9),
    "But then, instead of getting back hexagon and octagon": (6.0, 10.9),
    "to my fifth grade students": (30.0, 30.9),
}


class Fixed:
    """A stand-in captioner and transcriber: these tests are about the text on screen."""

    model_id = "fixed"

    def caption(self, frames: Sequence[Frame], contexts: object = None) -> list[str]:
        return ["a frame"] * len(frames)

    def transcribe(self, audio: object) -> Transcript:
        return Transcript.empty()


def read(rel: str) -> Result:
    return summarize(media_file(rel), captioner=Fixed(), transcriber=Fixed(),
                     options=Options(ocr="on", no_llm=True, no_cache=True, interval=INTERVAL))


def normalised(text: str) -> str:
    return " ".join(text.casefold().split())


def cer(found: str, truth: str) -> float:
    """Character error rate of ``found`` against ``truth`` (edit distance / truth length)."""
    a, b = normalised(found), normalised(truth)
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1] / max(1, len(b))


@pytest.fixture(scope="module")
def ted() -> Result:
    return read(TED)


def best(spans: Sequence[ScreenText], truth: str) -> ScreenText:
    return min(spans, key=lambda s: cer(s.text, truth))


@pytest.mark.parametrize("line", sorted(SHOWN))
def test_hard_subtitles_are_read_in_time(ted: Result, line: str) -> None:
    span = best(ted.screen_text, line)
    assert cer(span.text, line) <= 0.10, span
    start, end = SHOWN[line]
    assert start - INTERVAL <= span.t <= end + INTERVAL, span
    assert f"read: {span.text}" in ted.timeline


def test_the_slide_title_is_read_and_stays_one_line(ted: Result) -> None:
    title = best(ted.screen_text, "Name the following shapes:")
    assert cer(title.text, "Name the following shapes:") <= 0.10
    assert title.until > title.t  # on screen over several sampled frames: one ranged line
    lines = [ln for ln in ted.timeline.splitlines() if "read:" in ln]
    assert len(lines) == len(ted.screen_text)
    # Text that stays is one line, not one per frame: no text read twice in a row.
    texts = [normalised(s.text) for s in sorted(ted.screen_text, key=lambda s: s.t)]
    assert len(set(texts)) >= len(texts) - 2


def test_a_clip_without_text_gives_only_confident_lines() -> None:
    """The birthday clip's only text is a faint stock-photo watermark and a blurred sign: the
    reader sees fragments ("BIRT" at 0.7-0.8) that the confidence bar drops, and lone letters
    that the length rule drops; at most a watermark fragment read with confidence is left."""
    result = read(BIRTHDAY)
    frames = [Frame(float(t), image) for t, image in first_frames(media_file(BIRTHDAY))]
    reader = create_reader("on")
    assert reader is not None
    for blocks in reader.read(frames):
        assert all(b.score >= MIN_SCORE for b in blocks)
    kept = [s.text for s in result.screen_text]
    assert len(kept) <= 2 and all(len(text) >= 2 for text in kept), kept
    assert not any("BIRT" in text for text in kept)


def first_frames(path: object, every: float = INTERVAL) -> list[tuple[float, object]]:
    import av

    out, due = [], 0.0
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            if float(f.time) + 1e-6 >= due:
                out.append((float(f.time), f.to_image()))
                due += every
    return out
