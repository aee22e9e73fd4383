"""What a user sees in a terminal: results on stdout that survive the live progress display,
one error style, no third-party progress bars, and output files with the usual permissions.

The terminal tests run the real CLI in a pseudo-terminal (``pty``) and render what it wrote
with a terminal emulator (``pyte``), scrollback included, as a user would see it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from summarize_video.outputs.writers import atomic_write_text

# -- output files' permissions ----------------------------------------------------------------


@contextmanager
def _umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_new_output_files_get_the_usual_permissions_under_the_umask(tmp_path: Path,
                                                                     mask: int) -> None:
    target = tmp_path / "clip.summary.md"
    with _umask(mask):
        atomic_write_text(target, "# summary\n")
    assert _mode(target) == 0o666 & ~mask


def test_rewriting_an_output_file_keeps_its_permissions(tmp_path: Path) -> None:
    target = tmp_path / "clip.summary.md"
    target.write_text("old")
    os.chmod(target, 0o644)
    with _umask(0o077):
        atomic_write_text(target, "# new\n")
    assert target.read_text() == "# new\n"
    assert _mode(target) == 0o644
