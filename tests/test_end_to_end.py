"""The whole pipeline with real components: tiny models loaded through the real loading code,
real decoding, and the real openai client over HTTP to a local chat-completions server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from summarize_video import Options, summarize
from summarize_video.cli.main import cli
from tests.clips import make_clip, mixed_folder
from tests.support import (
    assert_request_carries_timeline,
    cli_args,
    media_file,
    model_options,
    run_console,
    user_message,
)


def test_summarize_python_api_on_generated_clip(tmp_path: Path, tiny_models: dict[str, Path],
                                                chat_server: Any,
                                                model_opts: dict[str, Any]) -> None:
    clip = make_clip(tmp_path / "talk.mp4", seconds=7.0, fps=25, audio=True)
    result = summarize(clip, interval=2, base_url=chat_server.base_url, llm_model="test-model",
                       **model_opts)
    assert [c.t for c in result.captions] == [0.0, 2.0, 4.0, 6.0]
    assert all(c.text for c in result.captions)
    assert result.summary == "A short test summary. Key moments: 00:00 start."
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
    assert result.video.has_audio and result.video.width == 320
    assert {"probe", "sample", "caption", "transcribe", "reason", "total"} <= set(result.timings_s)
    (request,) = chat_server.requests
    assert request["model"] == "test-model"
    assert_request_carries_timeline(request, result.to_dict())
    assert result.settings["caption_model"] == str(tiny_models["smolvlm"])


@pytest.mark.parametrize("family", ["blip", "florence2"])
def test_other_caption_families_through_the_pipeline(
    tmp_path: Path, tiny_models: dict[str, Path], family: str
) -> None:
    clip = make_clip(tmp_path / "c.mp4", seconds=3.0, fps=10, audio=False)
    result = summarize(clip, interval=1, no_llm=True, **model_options(tiny_models, family))
    assert [c.t for c in result.captions] == [0.0, 1.0, 2.0]
    assert result.summary is None and result.transcript == ()


def test_backends_can_be_passed_as_instances(tmp_path: Path, tiny_models: dict[str, Path],
                                             chat_server: Any) -> None:
    from summarize_video.captioning.transformers import TransformersCaptioner
    from summarize_video.reasoning.registry import OpenAIReasoner
    from summarize_video.transcription.whisper import WhisperTranscriber

    clip = make_clip(tmp_path / "c.mp4", seconds=2.0, fps=10, audio=True)
    captioner = TransformersCaptioner(str(tiny_models["blip"]), device="cpu")
    transcriber = WhisperTranscriber(str(tiny_models["whisper"]), device="cpu",
                                     temperature_increment=0.0, vad="energy")
    reasoner = OpenAIReasoner("own-model", base_url=chat_server.base_url)
    result = summarize(clip, interval=1, captioner=captioner, transcriber=transcriber,
                       reasoner=reasoner, dedup_threshold=0)
    assert len(result.captions) == 2 and result.summary
    assert chat_server.requests[0]["model"] == "own-model"
    assert result.settings["llm_model"] == "own-model"


def test_cli_on_real_talking_head(tmp_path: Path, tiny_models: dict[str, Path],
                                  chat_server: Any, cli_runner: CliRunner) -> None:
    video = media_file("speech_video/talkinghead_vfr_videoretalking_face1.mp4")
    out = tmp_path / "out"
    res = cli_runner.invoke(cli, [str(video), *cli_args(tiny_models, out), "--interval", "2",
                                   "--base-url", chat_server.base_url,
                                   "--llm-model", "test-model"])
    assert res.exit_code == 0, res.output
    data = json.loads((out / f"{video.stem}.summary.json").read_text(encoding="utf-8"))
    assert data["video"]["path"] == str(video)
    assert data["video"]["duration_s"] == pytest.approx(6.133, abs=0.01)
    assert (data["video"]["width"], data["video"]["height"]) == (700, 700)
    assert data["video"]["has_audio"] is True and data["video"]["fps"] > 20
    assert data["settings"] == {**data["settings"], "interval_s": 2.0,
                                "caption_model": str(tiny_models["smolvlm"]),
                                "whisper_model": str(tiny_models["whisper"]),
                                "llm_model": "test-model"}
    times = [c["t"] for c in data["captions"]]
    assert len(times) == 4 and times[0] < 0.05
    # A talking head that moves is not a near-duplicate: every sampled frame is kept.
    assert [c["until"] for c in data["captions"]] == [*times[1:], data["video"]["duration_s"]]
    assert data["frames"]["sampled"] == 4 and data["frames"]["kept"] == 4
    assert all(abs(t - 2 * k) < 1 / 15 for k, t in enumerate(times))
    assert data["transcript"], "tiny whisper emits gibberish segments on real speech"
    for seg in data["transcript"]:
        assert 0 <= seg["start"] <= seg["end"] <= 6.2 and seg["text"]
    assert data["summary"] == "A short test summary. Key moments: 00:00 start."
    assert data["usage"]["prompt_tokens"] > 0
    cost = data["cost"]
    assert cost["prompt_tokens"] == data["usage"]["prompt_tokens"]
    assert cost["cost_usd"] is None  # "test-model" has no price
    assert cost["native"]["gemini"]["tokens"] == 7 * 258 + 7 * 32
    assert cost["ratio"]["gemini"] == pytest.approx(
        cost["native"]["gemini"]["tokens"] / cost["prompt_tokens"], abs=0.005)  # 2 decimals
    assert "native video input would be" in res.output
    assert set(data["timings_s"]) >= {"probe", "sample", "caption", "transcribe", "reason"}
    assert_request_carries_timeline(chat_server.requests[0], data)
    md = (out / f"{video.stem}.summary.md").read_text(encoding="utf-8")
    for section in ("## Summary", "## Captions", "## Transcript", data["summary"]):
        assert section in md
    assert md.count("\n- **") == len(data["captions"]) + len(data["transcript"])


def test_cli_no_audio_video_gives_empty_transcript(tmp_path: Path, tiny_models: dict[str, Path],
                                                   chat_server: Any, cli_runner: CliRunner) -> None:
    video = media_file("noaudio_video/noaudio_frame_counter_10fps_3s_pyscenedetect.mp4")
    out = tmp_path / "out"
    res = cli_runner.invoke(cli, [str(video), *cli_args(tiny_models, out), "--interval", "1",
                                   "--base-url", chat_server.base_url])
    assert res.exit_code == 0, res.output
    data = json.loads((out / f"{video.stem}.summary.json").read_text(encoding="utf-8"))
    assert data["transcript"] == [] and data["video"]["has_audio"] is False
    assert [c["t"] for c in data["captions"]] == [0.0, 1.0, 2.0]
    assert any("no audio" in n for n in data["notes"])
    assert "no audio track" in user_message(chat_server.requests[0])


def test_cli_audio_only_file_is_summarized_from_speech(
    tmp_path: Path, tiny_models: dict[str, Path], chat_server: Any, cli_runner: CliRunner
) -> None:
    audio = make_clip(tmp_path / "voice.m4a", seconds=3.0, video=False)
    out = tmp_path / "out"
    res = cli_runner.invoke(cli, [str(audio), *cli_args(tiny_models, out),
                                   "--base-url", chat_server.base_url])
    assert res.exit_code == 0, res.output
    data = json.loads((out / "voice.summary.json").read_text(encoding="utf-8"))
    assert data["captions"] == [] and data["video"]["has_video"] is False
    assert any("no video track" in n for n in data["notes"])


def test_no_llm_writes_captions_and_transcript_only(
    tmp_path: Path, tiny_models: dict[str, Path], chat_server: Any, cli_runner: CliRunner
) -> None:
    clip = make_clip(tmp_path / "c.mp4", seconds=2.0, fps=10)
    out = tmp_path / "out"
    res = cli_runner.invoke(cli, [str(clip), *cli_args(tiny_models, out), "--no-llm",
                                   "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads((out / "c.summary.json").read_text(encoding="utf-8"))
    assert data["summary"] is None and data["settings"]["llm_model"] is None
    assert data["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "estimated": False}
    assert not (out / "c.summary.md").exists()
    assert chat_server.requests == []


def test_folder_with_a_bad_file_processes_the_rest(
    tmp_path: Path, tiny_models: dict[str, Path], chat_server: Any, cli_runner: CliRunner
) -> None:
    folder = mixed_folder(tmp_path / "in")
    (folder / "notes.txt").write_text("ignored", encoding="utf-8")
    out = tmp_path / "out"
    res = cli_runner.invoke(cli, [str(folder), *cli_args(tiny_models, out),
                                   "--base-url", chat_server.base_url])
    assert res.exit_code == 1
    assert sorted(p.name for p in out.iterdir()) == [
        "a.summary.json", "a.summary.md", "c.summary.json", "c.summary.md"]
    failures = [ln for ln in res.output.splitlines() if ln.startswith("failed:")]
    assert failures == [failures[0]] and f"{folder / 'b.mp4'}: probe: " in failures[0]
    assert len(chat_server.requests) == 2


def test_missing_and_non_video_files_one_line_no_traceback(tmp_path: Path) -> None:
    text = tmp_path / "readme.mp4"
    text.write_text("just text\n" * 100, encoding="utf-8")
    proc = run_console(str(tmp_path / "missing.mp4"), str(text), "--no-llm",
                       "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr
    assert [ln for ln in lines if ln.startswith("failed:")] == [
        f"failed: {tmp_path / 'missing.mp4'}: probe: no such file or directory (check the path)",
        lines[1],
    ]
    assert lines[1].startswith(f"failed: {text}: probe: not a readable media file")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.no_api_key
def test_missing_api_key_is_a_config_error_before_models_load(tmp_path: Path) -> None:
    """With no key and no base URL the default "auto" reasoner is the local one (not an
    error); asking for the openai backend without a key is still the one-line exit-2 error,
    raised before any model loads."""
    from summarize_video.errors import ConfigError
    from summarize_video.options import DEFAULT_LOCAL_LLM_MODEL
    from summarize_video.pipeline.summarizer import Summarizer
    from summarize_video.reasoning.registry import create_reasoner

    o = Options()
    assert o.reasoner == "auto" and o.api_key is None and o.base_url is None
    local = create_reasoner(o.reasoner, model=o.llm_model, base_url=o.base_url,
                            api_key=o.api_key, timeout=o.timeout)
    assert local.backend == "transformers" and local.model_id == DEFAULT_LOCAL_LLM_MODEL
    assert not local.loaded  # type: ignore[attr-defined]  (loads on first use)
    with pytest.raises(ConfigError) as info:
        create_reasoner("openai", model=o.llm_model, base_url=None, api_key=None,
                        timeout=o.timeout)
    line = str(info.value)
    assert info.value.exit_code == 2 and "\n" not in line
    assert "OPENAI_API_KEY" in line and "--base-url" in line
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        Summarizer(o.replace(reasoner="openai",
                             caption_model=str(tmp_path / "no-such-model")))


def test_help_shows_defaults_and_version(cli_runner: CliRunner) -> None:
    res = cli_runner.invoke(cli, ["--help"])
    assert res.exit_code == 0
    flat = " ".join(res.output.split())
    for text in ("--interval", "default: 5.0", "gpt-5-mini", "SmolVLM-256M-Instruct",
                 "turbo on CUDA", "--no-llm", "Exit codes", "from summarize_video import"):
        assert text in flat, text
    res = cli_runner.invoke(cli, ["--version"])
    assert res.exit_code == 0 and "0.1.0" in res.output
    res = cli_runner.invoke(cli, ["x.mp4", "--format", "pdf"])
    assert res.exit_code == 2 and "unknown output format pdf" in res.output


def test_static_video_is_captioned_once_for_its_whole_span(tmp_path: Path,
                                                           tiny_models: dict[str, Path],
                                                           cli_runner: CliRunner) -> None:
    video = media_file("speech_video/audiobook_static_image_videogrep_manifesto.mp4")
    out = tmp_path / "out"
    res = cli_runner.invoke(cli, [str(video), *cli_args(tiny_models, out), "--no-llm",
                                   "--format", "json", "--interval", "10",
                                   "--dedup-threshold", str(Options().dedup_threshold)])
    assert res.exit_code == 0, res.output
    data = json.loads((out / f"{video.stem}.summary.json").read_text(encoding="utf-8"))
    assert [(c["t"], c["until"]) for c in data["captions"]] == [(0.0, 88.08)]
    assert data["frames"]["sampled"] == 9 and data["frames"]["kept"] == 1
    assert data["frames"]["dropped"] == 8 and data["frames"]["decoded"] >= 9
    # With dropping off every sampled frame is captioned, each standing for 10 s.
    res = cli_runner.invoke(cli, [str(video), *cli_args(tiny_models, out), "--no-llm",
                                   "--format", "json", "--interval", "10",
                                   "--dedup-threshold", "0"])
    data = json.loads((out / f"{video.stem}.summary.json").read_text(encoding="utf-8"))
    assert [c["t"] for c in data["captions"]] == [10.0 * k for k in range(9)]
    assert [c["until"] for c in data["captions"]] == [10.0 * k for k in range(1, 9)] + [88.08]


def test_scene_sampling_captions_each_shot(tmp_path: Path, tiny_models: dict[str, Path],
                                           cli_runner: CliRunner) -> None:
    video = media_file("noaudio_video/noaudio_scenecuts_pyscenedetect_testvideo.mp4")
    out = tmp_path / "out"
    res = cli_runner.invoke(cli, [str(video), *cli_args(tiny_models, out), "--no-llm",
                                   "--format", "json", "--sampling", "scene"])
    assert res.exit_code == 0, res.output
    data = json.loads((out / f"{video.stem}.summary.json").read_text(encoding="utf-8"))
    # PySceneDetect's reference cuts for this clip: frames 30, 180 and 394 at 29.97 fps.
    expected = [0.0] + [round(n * 1001 / 30000, 6) for n in (30, 180, 394)]
    assert [c["t"] for c in data["captions"]] == pytest.approx(expected, abs=1e-3)
    assert data["settings"]["sampling"] == "scene"
    assert data["frames"]["decoded"] == 720


@pytest.mark.parametrize(
    ("rel", "flag"),
    [("odd_cases/near_silent_audio_track_autoeditor_man_on_green_screen.mp4", "no-speech"),
     ("odd_cases/music_no_speech_vp8_vorbis_30s_moviepy_bbb_0_30.webm", "music-or-noise")],
)
def test_silent_and_music_tracks_give_no_transcript(tmp_path: Path, tiny_models: dict[str, Path],
                                                    rel: str, flag: str,
                                                    cli_runner: CliRunner) -> None:
    video = media_file(rel)
    out = tmp_path / "out"
    res = cli_runner.invoke(cli, [str(video), *cli_args(tiny_models, out), "--no-llm",
                                   "--format", "json", "--interval", "10",
                                   "--compression-ratio-threshold", "2.4"])
    assert res.exit_code == 0, res.output
    data = json.loads((out / f"{video.stem}.summary.json").read_text(encoding="utf-8"))
    assert data["transcript"] == [] and data["language"] is None
    assert data["speech"]["flags"] == [flag]
    assert any("speech" in note for note in data["notes"])
