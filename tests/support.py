"""Plain helpers the test modules share (the shared fixtures are in ``conftest.py``).

Test modules import these (``from tests.support import cli_args``); no test module imports
another test module or ``conftest``. The package itself is imported lazily, inside the
helpers that need it, so that a broken package module fails the tests that use it, not the
collection of the whole suite.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from signal import SIGINT
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

if TYPE_CHECKING:
    from summarize_video.reasoning.registry import OpenAIReasoner
    from summarize_video.testing.chat_server import ChatServer

from tests.secrets_scan import SENTINEL

# -- the shared real media --------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("SUMMARIZE_VIDEO_MEDIA", ROOT.parent / "shared" / "media"))


# The ledger digest of ``Options(transcriber="whisper", captioner="transformers")`` with the
# shipped prompts: options added later at their defaults must leave it as it is (renewed only
# on purpose, see test_fingerprint.test_keys_and_fingerprints_are_those_earlier_versions_wrote).
LEDGER_DIGEST = "33264f155bbd9adda560aa7765b30667"


def media_file(rel: str) -> Path:
    """One file of the shared media, or skip the test."""
    path = MEDIA / rel
    if not path.is_file():
        pytest.skip(f"real media file not present: {path}")
    return path


# -- the tiny models through the Python API and the CLI ---------------------------------------

def model_options(tiny: dict[str, Path], caption: str = "smolvlm") -> dict[str, Any]:
    # Generated clips are flat colours that near-duplicate dropping would collapse; the
    # tiny whisper's one-word loops would be dropped by the repetition guard; their audio is a
    # tone, which the energy gate passes and the Silero VAD rightly does not.
    return {
        "vad": "energy",
        "dedup_threshold": 0.0,
        "compression_ratio_threshold": None,
        "caption_model": str(tiny[caption]),
        "whisper_model": str(tiny["whisper"]),
        "temperature_increment": 0.0,
        "device": "cpu",
        # Screen reading has its own tests (test_ocr*.py).
        "ocr": "off",
    }


def cli_args(tiny: dict[str, Path], out: Path, caption: str = "smolvlm") -> list[str]:
    return [
        "--caption-model", str(tiny[caption]), "--whisper-model", str(tiny["whisper"]),
        "--temperature-increment", "0", "--device", "cpu", "--output-dir", str(out),
        "--dedup-threshold", "0", "--compression-ratio-threshold", "0", "--vad", "energy",
        "--ocr", "off",
    ]


def run_on_talk(talk: dict[str, Path], tiny: dict[str, Path], out: Path, base_url: str,
                *extra: str) -> Any:
    """The CLI on the ``talk_clip`` fixture's clip, with the tiny models, the chat server at
    ``base_url``, the sentinel key and no retries (``extra`` flags come last and win)."""
    from click.testing import CliRunner

    from summarize_video.cli.main import cli

    args = [str(talk["clip"]), *cli_args(tiny, out), "--cache-dir", str(talk["cache"]),
            "--base-url", base_url, "--api-key", SENTINEL, "--llm-max-retries", "0", *extra]
    return CliRunner().invoke(cli, args)


def run_console(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "summarize_video", *args], capture_output=True,
                          text=True, env=full_env, timeout=120)


# -- chat requests ----------------------------------------------------------------------------

STAMPED = re.compile(r"^(\d+:)?\d\d:\d\d(-(\d+:)?\d\d:\d\d)? (see|say): ")
MESSAGES = [
    {"role": "system", "content": "You summarize videos."},
    {"role": "user", "content": "[00:05] caption: a cat on a sofa\n[00:07] speech: hello"},
]


def user_message(request: dict[str, Any]) -> str:
    return next(m["content"] for m in request["messages"] if m["role"] == "user")


def assert_request_carries_timeline(request: dict[str, Any], data: dict[str, Any]) -> None:
    """Every caption and transcript line, with its stamp, in time order, in the prompt.

    Runs of identical consecutive captions appear once, stamped with their time range.
    """
    from summarize_video.timeline import format_timestamp

    text = user_message(request)
    lines = [ln for ln in text.splitlines() if STAMPED.match(ln)]
    runs: list[list[dict[str, Any]]] = []
    for c in data["captions"]:
        if runs and runs[-1][-1]["text"] == c["text"]:
            runs[-1].append(c)
        else:
            runs.append([c])
    expected = []
    for run in runs:
        stamp = format_timestamp(run[0]["t"])
        end = format_timestamp(run[-1]["until"])
        if len(run) > 1 and end != stamp:
            stamp = f"{stamp}-{end}"
        if run[0]["text"]:
            expected.append((run[0]["t"], 0, f"{stamp} see: {run[0]['text']}"))
    expected += [(s["start"], 1, f"{format_timestamp(s['start'])} say: {s['text']}")
                 for s in data["transcript"]]
    assert lines == [e[2] for e in sorted(expected)]
    assert len(lines) >= len(runs) and data["captions"]


def reasoner_for(srv: ChatServer, model: str = "test-model", **kwargs: object
                 ) -> OpenAIReasoner:
    """An OpenAIReasoner on ``srv``: the sentinel key, no retries, a 10 s timeout."""
    from summarize_video.reasoning.registry import OpenAIReasoner

    kwargs.setdefault("api_key", SENTINEL)
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("timeout", 10.0)
    return OpenAIReasoner(model, base_url=srv.base_url, **kwargs)  # type: ignore[arg-type]


# -- generated audio with known speech edges --------------------------------------------------

RATE = 16000
# 1.5 s bursts every 3 s, from 0.5 s: silences 2.0-3.5, 5.0-6.5, ...
BURSTS = [(0.5 + 3 * i, 2.0 + 3 * i) for i in range(7)]


def db(level: float) -> float:
    """Amplitude of a sine whose RMS is ``level`` dBFS."""
    return float(np.sqrt(2) * 10 ** (level / 20))


def signal(seconds: float, bursts: list[tuple[float, float]], *, level: float = -20.0,
           noise: float | None = None, seed: int = 0) -> np.ndarray:
    """``seconds`` of silence (or noise at ``noise`` dBFS RMS) with 300 Hz tone bursts."""
    n = round(seconds * RATE)
    rng = np.random.default_rng(seed)
    x = np.zeros(n) if noise is None else rng.normal(0, 10 ** (noise / 20), n)
    t = np.arange(n) / RATE
    for start, end in bursts:
        inside = (t >= start) & (t < end)
        x[inside] += db(level) * np.sin(2 * np.pi * 300 * t[inside])
    return x.astype(np.float32)


def in_silence(t: float, bursts: list[tuple[float, float]], margin: float = 0.2) -> bool:
    return all(not a - margin < t < b + margin for a, b in bursts)


class FakeModel:
    """Stands in for a loaded whisper model: records its call, returns fixed segments."""

    is_multilingual = True

    def __init__(self, segments: list[dict[str, Any]] | None = None) -> None:
        self.kwargs: dict[str, Any] = {}
        self.audio = np.zeros(0, np.float32)
        self.segments = segments if segments is not None else [
            {"start": 0.0, "end": 1.0, "text": "  Hallo Welt. "},
            {"start": 1.0, "end": 2.0, "text": "   "},
            {"start": 1.5, "end": 30.0, "text": " Ende"},  # no closing timestamp
        ]

    def transcribe(self, audio: np.ndarray, **kwargs: Any) -> dict[str, Any]:
        self.kwargs, self.audio = kwargs, audio
        return {"language": kwargs["language"] or "de", "segments": self.segments}


# -- batches: the ledger and Ctrl-C -----------------------------------------------------------

def done_rows(ledger: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(ledger) as con:
        return con.execute("SELECT path, status FROM files ORDER BY path").fetchall()


def _wait_for_done(ledger: Path, proc: subprocess.Popen[str], deadline: float) -> None:
    """Return once the ledger has a file done (polls while the run goes on)."""
    while time.monotonic() < deadline and proc.poll() is None:
        if ledger.is_file():
            try:
                if any(status == "done" for _, status in done_rows(ledger)):
                    return
            except sqlite3.Error:
                pass
        time.sleep(0.1)
    raise AssertionError(f"no file was done in time (exit {proc.poll()})")


def interrupt_once_a_file_is_done(proc: subprocess.Popen[str], ledger: Path,
                                  wait_s: float = 150.0) -> str:
    """Ctrl-C ``proc`` once its ledger has a file done; its stderr (it is killed if it does
    not end within a minute of the interrupt)."""
    try:
        _wait_for_done(ledger, proc, time.monotonic() + wait_s)
        proc.send_signal(SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return stderr
