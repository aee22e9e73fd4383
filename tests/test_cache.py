"""The SQLite cache: keys, reuse across runs, and safety when a run is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from summarize_video.cli.main import cli
from summarize_video.options import CACHE_ENV, default_cache_dir
from summarize_video.pipeline.cache import Cache, stable_key
from tests.clips import make_clip
from tests.support import cli_args


def test_keys_depend_on_stage_file_and_every_parameter() -> None:
    base = stable_key("captions", "abc", {"interval": 5, "model": "m"})
    assert base == stable_key("captions", "abc", {"model": "m", "interval": 5})
    assert base != stable_key("captions", "abc", {"interval": 6, "model": "m"})
    assert base != stable_key("captions", "abd", {"interval": 5, "model": "m"})
    assert base != stable_key("transcript", "abc", {"interval": 5, "model": "m"})


def test_put_get_and_file_hash(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c")
    assert cache.get("captions", "h", {"a": 1}) is None
    cache.put("captions", "h", {"a": 1}, {"captions": [[0.0, 5.0, "x"]]})
    assert cache.get("captions", "h", {"a": 1}) == {"captions": [[0.0, 5.0, "x"]]}
    assert cache.get("captions", "h", {"a": 2}) is None
    f = tmp_path / "f.bin"
    f.write_bytes(b"abc")
    first = cache.file_hash(f)
    assert first == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    f.write_bytes(b"abcd")
    os.utime(f, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert cache.file_hash(f) != first
    assert cache.stats() == {"captions": 1}


def test_default_folder_follows_the_environment(monkeypatch: Any, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "here"))
    assert default_cache_dir() == tmp_path / "here"
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert default_cache_dir() == tmp_path / "xdg" / "summarize-video"


WRITER = """
import sys
from summarize_video.pipeline.cache import Cache
cache = Cache(sys.argv[1])
print("ready", flush=True)
i = 0
while True:
    cache.put("captions", f"h{i}", {"i": i}, {"captions": [[0.0, 1.0, "x" * 5000]] * 50})
    i += 1
"""


def test_a_killed_writer_leaves_a_usable_cache(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(folder)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    cache = Cache(folder)
    written = cache.stats()["captions"]
    assert written > 0
    # Every entry that is there is whole.
    for i in range(written):
        value = cache.get("captions", f"h{i}", {"i": i})
        assert value is not None and len(value["captions"]) == 50
    cache.put("captions", "after", {}, {"ok": True})
    assert cache.get("captions", "after", {}) == {"ok": True}


def run(args: list[str]) -> dict[str, Any]:
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    out = Path(args[args.index("--output-dir") + 1])
    return json.loads(next(out.glob("*.summary.json")).read_text(encoding="utf-8"))


def test_reruns_reuse_what_did_not_change(tmp_path: Path, tiny_models: dict[str, Path],
                                          chat_server: Any, private_cache: Path) -> None:
    clip = make_clip(tmp_path / "talk.mp4", seconds=4.0, fps=10, audio=True)
    common = [str(clip), *cli_args(tiny_models, tmp_path / "out"), "--base-url",
              chat_server.base_url, "--interval", "1"]
    first = run(common)
    assert first["cache"] == {"captions": "miss", "transcript": "miss"}
    # Another summary prompt and another reasoning model: no model time at all.
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "summary.md").write_text("Briefly: $title $duration $notes $timeline",
                                        encoding="utf-8")
    second = run([*common, "--prompts-dir", str(prompts), "--llm-model", "other"])
    assert second["cache"] == {"captions": "hit", "transcript": "hit"}
    assert second["captions"] == first["captions"]
    assert second["transcript"] == first["transcript"]
    assert second["frames"] == first["frames"]
    assert "caption" not in second["timings_s"] and "transcribe" not in second["timings_s"]
    assert chat_server.requests[-1]["model"] == "other"
    # Another interval: the captions are recomputed, the transcript reused.
    third = run([*common[:-1], "2"])
    assert third["cache"] == {"captions": "miss", "transcript": "hit"}
    assert [c["t"] for c in third["captions"]] == [0.0, 2.0]
    # --no-cache neither reads nor writes.
    fourth = run([*common, "--no-cache"])
    assert fourth["cache"] == {}
    assert Cache(private_cache).stats() == {"captions": 2, "transcript": 1}
