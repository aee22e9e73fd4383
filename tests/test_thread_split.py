"""Two cores shared well: captioning and transcription, run side by side, split the CPU
threads by their expected work; captioning takes them all once the transcript is done (as
lanes, for a captioner that captions batches at once); the screen reader gets its share; the
split is recorded; one core still works (1 and 1)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

from summarize_video.media.audio import AudioClip
from summarize_video.media.frames import Frame
from summarize_video.options import Options
from summarize_video.pipeline.concurrency import (
    ThreadSplit,
    expected_work,
    lane_threads,
    split_threads,
    torch_threads,
)
from summarize_video.pipeline.summarizer import Summarizer
from summarize_video.transcription.base import Transcript
from tests.clips import make_clip


@pytest.fixture(autouse=True)
def one_thread_after() -> Any:
    """Tests run with one torch thread (conftest); leave it so."""
    yield
    torch.set_num_threads(1)


# -- the split ---------------------------------------------------------------------------------


def test_two_cores_give_one_each_and_one_core_is_shared():
    assert split_threads(2, 3.0 / 5, 0.25) == ThreadSplit(2, 1, 1, read=1)
    assert split_threads(2, 0.01, 5.0) == ThreadSplit(2, 1, 1, read=1)  # each keeps one
    assert split_threads(1, 0.6, 0.25) == ThreadSplit(1, 1, 1, read=1)
    assert split_threads(0, 0.6, 0.25) == ThreadSplit(1, 1, 1, read=1)


def test_more_cores_follow_the_expected_work():
    # PyTorch captioning at 5 s frames: 0.6 core-s per second; transcription 0.25.
    # The screen reader: a third of captioning's share, at least one.
    assert split_threads(8, 0.6, 0.25) == ThreadSplit(8, 6, 2, read=2)
    assert split_threads(16, 0.6, 0.25) == ThreadSplit(16, 11, 5, read=3)
    assert split_threads(8, 1.0, 1.0) == ThreadSplit(8, 4, 4, read=1)
    assert split_threads(8, 0.0, 0.0) == ThreadSplit(8, 4, 4, read=1)
    caption, transcribe = expected_work(None, "transformers", None, "faster-whisper", 5.0)
    assert caption > transcribe > 0
    # The defaults on the CPU (onnx, faster-whisper): 0.2 and 0.07 core-s per second.
    work = expected_work(None, "onnx", None, "faster-whisper", 5.0)
    assert work == pytest.approx((0.2, 0.07))
    assert split_threads(2, *work) == ThreadSplit(2, 1, 1, read=1)
    assert split_threads(8, *work) == ThreadSplit(8, 6, 2, read=2)
    # A faster captioner (its own cost) leaves transcription a larger share.
    fast = type("Fast", (), {"cpu_cost": 0.5})()
    assert expected_work(fast, "other", None, "faster-whisper", 5.0)[0] == pytest.approx(0.1)


def test_lanes_share_the_threads_one_each_at_least():
    assert lane_threads(1) == [1]
    assert lane_threads(2) == [1, 1]
    assert lane_threads(5) == [3, 2]
    assert lane_threads(16) == [8, 8]
    assert lane_threads(0) == [1]
    assert lane_threads(6, lanes=4) == [2, 2, 1, 1]
    assert all(sum(lane_threads(n, k)) == n for n in range(1, 20) for k in range(1, 5))


def test_torch_threads_are_set_for_the_block_and_restored():
    torch.set_num_threads(1)
    with torch_threads(2):
        assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == 1


# -- a run -------------------------------------------------------------------------------------


class CountingCaptioner:
    """Records the torch threads each batch ran with (a captioner passed in, as callers may)."""

    model_id = "counting-captioner"

    def __init__(self) -> None:
        self.threads: list[int] = []

    def caption(self, frames: Sequence[Frame], contexts: Sequence[str | None] | None = None
                ) -> list[str]:
        self.threads.append(torch.get_num_threads())
        time.sleep(0.1)
        return ["a frame"] * len(frames)


class CountingTranscriber:
    """Records the torch threads of the thread it transcribes in; takes a while."""

    model_id = "counting-transcriber"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.threads: list[int] = []
        self.thread: str | None = None

    def transcribe(self, audio: AudioClip) -> Transcript:
        self.threads.append(torch.get_num_threads())
        self.thread = threading.current_thread().name
        time.sleep(self.seconds)
        return Transcript.empty()


def run(path: Path, tmp_path: Path, threads: int, transcribe_s: float
        ) -> tuple[Any, CountingCaptioner, CountingTranscriber]:
    captioner, transcriber = CountingCaptioner(), CountingTranscriber(transcribe_s)
    o = Options(threads=threads, no_llm=True, no_cache=True, dedup_threshold=0.0,
                caption_batch_size=1, interval=0.5, output_dir=tmp_path, device="cpu")
    result = Summarizer(o, captioner=captioner, transcriber=transcriber).run(path)
    return result, captioner, transcriber


def test_two_cores_are_split_recorded_and_restored(tmp_path: Path):
    clip = make_clip(tmp_path / "clip.mp4", seconds=4.0, fps=10, audio=True)
    torch.set_num_threads(1)
    result, captioner, transcriber = run(clip, tmp_path, threads=2, transcribe_s=0.3)
    assert result.provenance["threads"] == {"cores": 2, "caption": 1, "transcribe": 1,
                                            "caption_alone": 2, "read": 1}
    assert transcriber.threads == [1] and transcriber.thread != threading.current_thread().name
    # One thread while the transcript is being made, both once it is done.
    assert captioner.threads[0] == 1 and captioner.threads[-1] == 2
    assert set(captioner.threads) == {1, 2}
    assert torch.get_num_threads() == 1  # the caller's count is back


def test_one_core_runs_both_stages_on_it(tmp_path: Path):
    clip = make_clip(tmp_path / "clip.mp4", seconds=2.0, fps=10, audio=True)
    result, captioner, transcriber = run(clip, tmp_path, threads=1, transcribe_s=0.1)
    assert result.provenance["threads"] == {"cores": 1, "caption": 1, "transcribe": 1,
                                            "caption_alone": 1, "read": 1}
    assert set(captioner.threads) == {1} and transcriber.threads == [1]
    assert len(result.captions) >= 3


def test_faster_whisper_loads_with_its_share(real_tiny_en: Path, tiny_models: dict[str, Path]):
    o = Options(threads=2, transcriber="faster-whisper", whisper_model=str(real_tiny_en),
                caption_model=str(tiny_models["smolvlm"]), no_llm=True, device="cpu")
    s = Summarizer(o)
    engine = s.transcriber.backend  # type: ignore[attr-defined]
    assert engine.threads == s.thread_split().transcribe == 1  # cpu_threads when it loads
    engine.load()
    assert engine.is_loaded
    assert Options(threads=8).threads == 8
    with pytest.raises(Exception, match="threads"):
        Options(threads=0)


class LaneCaptioner(CountingCaptioner):
    """A captioner that may caption batches from several threads at once: records each
    call's thread, torch threads, first frame and how many calls ran at that moment."""

    concurrent_batches = True

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, int, float, int]] = []
        self._running = 0
        self._lock = threading.Lock()

    def caption(self, frames: Sequence[Frame], contexts: Sequence[str | None] | None = None
                ) -> list[str]:
        with self._lock:
            self._running += 1
        time.sleep(0.05)  # long enough for a second lane to start meanwhile
        with self._lock:
            self.calls.append((threading.current_thread().name, torch.get_num_threads(),
                               frames[0].t, self._running))
        time.sleep(0.05)
        with self._lock:
            self._running -= 1
        return [f"frame at {f.t:.2f}" for f in frames]


def test_a_concurrent_captioner_gets_its_threads_as_lanes(tmp_path: Path):
    clip = make_clip(tmp_path / "clip.mp4", seconds=6.0, fps=10, audio=True)
    captioner, transcriber = LaneCaptioner(), CountingTranscriber(0.3)
    o = Options(threads=2, no_llm=True, no_cache=True, dedup_threshold=0.0,
                caption_batch_size=1, interval=0.25, output_dir=tmp_path, device="cpu")
    torch.set_num_threads(1)
    result = Summarizer(o, captioner=captioner, transcriber=transcriber).run(clip)
    main = threading.current_thread().name
    # The first batch alone, in this thread (the model loads on it)...
    assert captioner.calls[0][0] == main and captioner.calls[0][3] == 1
    # ...then two batches at once in two lanes, one thread each.
    lanes = [c for c in captioner.calls if c[0].startswith("caption-lane")]
    assert len({c[0] for c in lanes}) == 2 and {c[1] for c in lanes} == {1}
    assert max(c[3] for c in captioner.calls) == 2
    assert all(c[3] == 1 for c in captioner.calls if c[0] == main)
    # Every frame captioned once, in time order, with its own caption.
    times = [c.t for c in result.captions]
    assert times == sorted(times) and len(times) == len(captioner.calls) >= 20
    assert [c.text for c in result.captions] == [f"frame at {t:.2f}" for t in times]
    assert torch.get_num_threads() == 1


def test_the_screen_reader_gets_its_share(tmp_path: Path):
    pytest.importorskip("rapidocr")
    s = Summarizer(Options(threads=2, no_llm=True, device="cpu", ocr="on",
                           output_dir=tmp_path))
    assert s.reader is not None and s.reader.threads == s.thread_split().read == 1  # type: ignore[attr-defined]
    s = Summarizer(Options(threads=12, no_llm=True, device="cpu", ocr="on",
                           output_dir=tmp_path))
    split = s.thread_split()
    assert s.reader.threads == split.read == split.caption // 3 >= 2  # type: ignore[union-attr]


def test_backends_modules_are_imported_before_the_stage_threads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the backends import when they load is imported on the calling thread first, so
    no stage thread imports an extension module while another does (or while a stop signal
    interrupts the caller's import); a module that cannot be imported is left to its backend."""
    import sys

    site = tmp_path / "site"
    site.mkdir()
    for name in ("sv_caption_mod", "sv_speech_mod"):
        (site / f"{name}.py").write_text(
            "import threading\nTHREAD = threading.current_thread().name\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    for name in ("sv_caption_mod", "sv_speech_mod"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    clip = make_clip(tmp_path / "clip.mp4", seconds=2.0, fps=10, audio=True)
    captioner, transcriber = CountingCaptioner(), CountingTranscriber(0.1)
    captioner.modules = ("sv_caption_mod", "sv_no_such_module")  # type: ignore[attr-defined]
    transcriber.modules = ("sv_speech_mod",)  # type: ignore[attr-defined]
    o = Options(threads=2, no_llm=True, no_cache=True, output_dir=tmp_path, device="cpu")
    result = Summarizer(o, captioner=captioner, transcriber=transcriber).run(clip)
    imported_on = {sys.modules[m].THREAD for m in ("sv_caption_mod", "sv_speech_mod")}
    assert imported_on == {threading.current_thread().name}
    assert "sv_no_such_module" not in sys.modules and result.captions
