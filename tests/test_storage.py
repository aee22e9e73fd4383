"""Inputs named as URIs, with any executor: ``file://`` is a local path, and other storage
schemes are one-line input errors naming the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from summarize_video import summarize_many
from summarize_video.inputs.discovery import discover
from tests.clips import make_clip


def test_file_uris_are_local_paths_and_other_schemes_name_the_fix(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "my talk.mp4", seconds=1.0, fps=10, audio=False)
    folder_uri = tmp_path.as_uri()
    inputs = list(discover([clip.as_uri(), f"file://localhost{tmp_path.as_posix()}/x.mp4",
                            "s3://bucket/talks/a.mp4", "GS://bucket/b.mp4",
                            "file://nas/share/c.mp4"]))
    assert inputs[0].path == clip and inputs[0].error is None  # %20 decoded
    assert inputs[1].error is not None and "no such file" in inputs[1].error.one_line()
    assert [i.error.one_line() for i in inputs[2:] if i.error is not None] == [
        "s3://bucket/talks/a.mp4: input: s3:// inputs are not read directly (mount the storage "
        "where every machine can read it (s3fs, gcsfuse, blobfuse2, mountpoint-s3) and pass the "
        "mounted path, or pass a presigned https:// URL)",
        "GS://bucket/b.mp4: input: gs:// inputs are not read directly (mount the storage where "
        "every machine can read it (s3fs, gcsfuse, blobfuse2, mountpoint-s3) and pass the "
        "mounted path, or pass a presigned https:// URL)",
        "file://nas/share/c.mp4: input: file:// URI names another machine (nas) (use "
        "file:///path (three slashes) for a path on this machine)",
    ]
    # A folder URI gives its media files, as the folder does.
    assert [i.path for i in discover([folder_uri])] == [clip]


def test_a_file_uri_and_its_path_are_one_file_to_the_ledger(
    tmp_path: Path, model_opts: dict[str, Any]
) -> None:
    clip = make_clip(tmp_path / "a.mp4", seconds=1.0, fps=10, audio=False)
    opts = dict(model_opts, no_llm=True, output_dir=tmp_path / "out",
                formats="json")
    (first, bad) = summarize_many([clip.as_uri(), "s3://bucket/a.mp4"], **opts)
    assert first.status == "done" and first.path == clip
    assert first.result is not None and first.result.video.path == str(clip)
    assert bad.status == "failed" and bad.error is not None and bad.error.stage == "input"
    (again,) = summarize_many([clip], **opts)
    assert again.skipped
