"""Batches: which files a folder gives, the ledger that makes reruns resume, Ctrl-C, the report."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from summarize_video.discovery import Input, discover


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0")
    return path


def names(inputs: list[Input], root: Path) -> list[str]:
    assert all(i.error is None for i in inputs), [i.error for i in inputs]
    return [i.path.relative_to(root).as_posix() for i in inputs]


def discovered(paths: list[Path], **kwargs: Any) -> list[Input]:
    """discover() in a thread, so that a FIFO it wrongly opened fails the test, not hangs it."""
    out: list[Input] = []
    worker = threading.Thread(target=lambda: out.extend(discover(paths, **kwargs)), daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "discovery blocked (did it open a FIFO?)"
    return out


# --- discovery --------------------------------------------------------------------------------


def test_include_and_exclude_match_the_path_relative_to_the_folder(tmp_path: Path) -> None:
    for rel in ("a.mp4", "B.mkv", "talks/t1.mp4", "talks/drafts/d.mp4", "music/s.mp3",
                "notes.txt", "talks/readme.md"):
        touch(tmp_path / rel)
    everything = discovered([tmp_path], recursive=True)
    # Sorted case-insensitively by relative path; non-media files quietly left out.
    assert names(everything, tmp_path) == [
        "a.mp4", "B.mkv", "music/s.mp3", "talks/drafts/d.mp4", "talks/t1.mp4"]
    assert names(discovered([tmp_path]), tmp_path) == ["a.mp4", "B.mkv"]
    only_mp4 = discovered([tmp_path], recursive=True, include=["*.mp4"])
    assert names(only_mp4, tmp_path) == ["a.mp4", "talks/drafts/d.mp4", "talks/t1.mp4"]
    talks = discovered([tmp_path], recursive=True, include=["talks/*"])
    assert names(talks, tmp_path) == ["talks/drafts/d.mp4", "talks/t1.mp4"]
    # An excluded folder is not entered; patterns repeat; include and exclude combine.
    pruned = discovered([tmp_path], recursive=True, exclude=["drafts", "*.mp3"])
    assert names(pruned, tmp_path) == ["a.mp4", "B.mkv", "talks/t1.mp4"]
    both = discovered([tmp_path], recursive=True, include=["*.mp4", "*.mkv"],
                      exclude=["talks/*"])
    assert names(both, tmp_path) == ["a.mp4", "B.mkv"]
    # A file named directly is matched by the path as given.
    assert discovered([tmp_path / "a.mp4"], exclude=["a.*"]) == []


def test_a_file_named_twice_is_processed_once(tmp_path: Path) -> None:
    a = touch(tmp_path / "a.mp4")
    touch(tmp_path / "b.mp4")
    (tmp_path / "link.mp4").symlink_to(a)
    got = discovered([a, tmp_path, tmp_path / "a.mp4", tmp_path / "link.mp4"])
    assert [i.path for i in got] == [a, tmp_path / "b.mp4"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifos_are_skipped_without_being_opened(tmp_path: Path) -> None:
    touch(tmp_path / "a.mp4")
    os.mkfifo(tmp_path / "pipe.mp4")
    (tmp_path / "sub").mkdir()
    os.mkfifo(tmp_path / "sub" / "pipe.mkv")
    assert names(discovered([tmp_path], recursive=True), tmp_path) == ["a.mp4"]
    # Named directly it is reported, still without being opened.
    (named,) = discovered([tmp_path / "pipe.mp4"])
    assert named.error is not None
    assert named.error.one_line() == (f"{tmp_path / 'pipe.mp4'}: probe: not a regular file "
                                      "(a FIFO) (name a video or audio file)")


def test_folder_symlinks_never_lead_outside_the_root_or_loop(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    touch(outside / "secret.mp4")
    root = tmp_path / "root"
    touch(root / "a.mp4")
    touch(root / "sub" / "b.mp4")
    (root / "escape").symlink_to(outside, target_is_directory=True)
    (root / "sub" / "loop").symlink_to(root, target_is_directory=True)
    (root / "again").symlink_to(root / "sub", target_is_directory=True)
    (root / "broken.mp4").symlink_to(tmp_path / "nowhere.mp4")
    got = discovered([root], recursive=True)
    assert names(got, root) == ["a.mp4", "sub/b.mp4"]
    # The root itself may be a symlink.
    (tmp_path / "alias").symlink_to(root, target_is_directory=True)
    assert len(discovered([tmp_path / "alias"], recursive=True)) == 2
