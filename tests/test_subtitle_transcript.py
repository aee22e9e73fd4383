"""Subtitles as the transcript (``--transcript auto|asr|subtitles``): text tracks of real and
generated files and sidecar files beside them are read as timed speech, reach the prompt and
the JSON with their source; bitmap tracks are skipped with a note; broken, hostile and oddly
encoded sidecars never raise a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import av
import pytest
from click.testing import CliRunner

from summarize_video import summarize
from summarize_video.cli.main import cli
from summarize_video.errors import EXIT_INPUT_FAILED, InputError
from summarize_video.limits import MAX_SUBTITLE_BYTES
from tests.clips import make_clip
from tests.support import cli_args, media_file, user_message

MOV_TEXT = "odd_cases/mov_text_subtitle_track_autoeditor.mp4"
ASS_MKV = "odd_cases/mkv_multi_stream_ass_subs_fonts_pyscenedetect_issue236.mkv"
SRT = ("1\n00:00:00,500 --> 00:00:01,200\n<i>Hello</i> there\n\n"
       "2\n00:00:01,500 --> 00:00:02,500\nsecond <b>line</b>\n")
ASS = ("[Script Info]\nScriptType: v4.00+\n\n[Events]\nFormat: Layer, Start, End, Style, Name, "
       "MarginL, MarginR, MarginV, Effect, Text\n"
       "Dialogue: 0,0:00:00.50,0:00:01.20,Default,,0,0,0,,{\\i1}Hi{\\i0}\\Nthere\n"
       "Dialogue: 0,0:00:01.20,0:00:01.80,Default,,0,0,0,,{\\i1}Hi{\\i0}\\Nthere\n"
       "Dialogue: 0,0:00:02.00,0:00:02.50,Default,,0,0,0,,{\\pos(10,10)}\n"
       "Dialogue: 0,0:00:02.50,0:00:02.90,Default,,0,0,0,,last\n")
VTT = ("WEBVTT\n\nNOTE a comment\n\n00:00:00.500 --> 00:00:01.200 align:start\n"
       "<b>vtt</b> &amp; cue\n")


def subbed(tmp_path: Path, name: str, tracks: list[tuple[str, str, str | None, bool]],
           *, bitmap: bool = False, audio: bool = True) -> Path:
    """A 3 s clip (H.264, AAC tone) remuxed to Matroska with text subtitle tracks made from
    (extension, text, language, default) and, with ``bitmap``, a DVD (picture) track."""
    base = make_clip(tmp_path / f"{name}.base.mp4", seconds=3.0, fps=10, audio=audio)
    dest = tmp_path / name
    opened = []
    with av.open(str(base)) as src, av.open(str(dest), "w") as out:
        maps = {s.index: out.add_stream_from_template(s) for s in src.streams}
        for i, (ext, text, language, default) in enumerate(tracks):
            text_file = tmp_path / f"{name}.track{i}.{ext}"
            text_file.write_text(text, encoding="utf-8")
            inp = av.open(str(text_file))
            stream = out.add_stream_from_template(inp.streams[0])
            if language:
                stream.metadata["language"] = language
            stream.disposition = av.stream.Disposition.default if default else 0
            opened.append((inp, stream))
        if bitmap:
            dvd = out.add_stream("dvd_subtitle")
            dvd.metadata["language"] = "eng"
        for packet in src.demux():
            if packet.dts is not None:
                packet.stream = maps[packet.stream.index]
                out.mux(packet)
        for inp, stream in opened:
            for packet in inp.demux():
                if packet.dts is not None:
                    packet.stream = stream
                    out.mux(packet)
            inp.close()
    return dest


def texts(result: Any) -> list[str]:
    return [s.text for s in result.transcript]


# -- real files ------------------------------------------------------------------------------

def test_mov_text_track_of_a_real_file_is_the_transcript(
        tmp_path: Path, tiny_models: dict[str, Path], chat_server: Any,
        cli_runner: CliRunner) -> None:
    video = media_file(MOV_TEXT)
    out = tmp_path / "out"
    res = cli_runner.invoke(cli, [str(video), *cli_args(tiny_models, out), "--interval", "1",
                                   "--base-url", chat_server.base_url,
                                   "--llm-model", "test-model", "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads((out / f"{video.stem}.summary.json").read_text(encoding="utf-8"))
    assert data["transcript"] == [{"start": 0.523, "end": 1.016, "text": "oop"},
                                  {"start": 1.523, "end": 1.916, "text": "boop"}]
    assert data["speech"]["source"] == {"kind": "subtitles", "from": "stream", "stream": 2,
                                        "codec": "mov_text", "language": None, "title": None}
    assert "transcribe" not in data["timings_s"] and "subtitles" in data["timings_s"]
    assert data["provenance"]["models"]["transcriber"] is None
    prompt = user_message(chat_server.requests[0])
    assert "00:00 say: oop" in prompt and "00:01 say: boop" in prompt
    assert "The transcript is the subtitles (track 2, mov_text, language not given)" in prompt


def test_empty_ass_tracks_pick_by_language_and_fall_back_to_speech(
        media: Path, model_opts: dict[str, Any]) -> None:
    """The real MKV's three ASS tracks (eng default, por, spa) hold no cues: the one the rule
    picks is named in a note and speech recognition makes the transcript."""
    video = media_file(ASS_MKV)
    result = summarize(video, no_llm=True, interval=3, language="pt", **model_opts)
    assert any("subtitles (track 3, ssa) hold no text" in n for n in result.notes)
    assert result.speech["source"]["kind"] == "asr"
    result = summarize(video, no_llm=True, interval=3, **model_opts)
    assert any("subtitles (track 2, ssa) hold no text" in n for n in result.notes)
    with pytest.raises(InputError, match="hold no text"):
        summarize(video, no_llm=True, interval=3, transcript_source="subtitles", **model_opts)


# -- generated tracks ------------------------------------------------------------------------

def test_srt_ass_and_vtt_tracks_are_cleaned_and_picked_by_language(
        tmp_path: Path, model_opts: dict[str, Any]) -> None:
    video = subbed(tmp_path, "three.mkv", [("srt", SRT, "fre", False), ("ass", ASS, "eng", True),
                                           ("vtt", VTT, "ger", False)])
    default = summarize(video, no_llm=True, interval=3, **model_opts)
    # ASS: override blocks gone, \N a space, the repeat merged, the empty cue dropped.
    assert texts(default) == ["Hi there", "last"]
    first = default.transcript[0]
    assert first.start == pytest.approx(0.5, abs=0.05) and first.end == pytest.approx(1.8, abs=0.05)
    assert default.language == "en" and default.speech["source"]["stream"] == 3
    french = summarize(video, no_llm=True, interval=3, language="fr", **model_opts)
    assert texts(french) == ["Hello there", "second line"] and french.language == "fr"
    german = summarize(video, no_llm=True, interval=3, language="de", **model_opts)
    assert texts(german) == ["vtt & cue"] and german.speech["source"]["codec"] == "webvtt"
    # An unmatched language falls back to the default track.
    assert texts(summarize(video, no_llm=True, interval=3, language="ja", **model_opts)) == \
        ["Hi there", "last"]


def test_subtitles_without_audio_still_give_a_transcript(tmp_path: Path,
                                                         model_opts: dict[str, Any]) -> None:
    video = subbed(tmp_path, "mute.mkv", [("srt", SRT, "eng", False)], audio=False)
    result = summarize(video, no_llm=True, interval=3, **model_opts)
    assert texts(result) == ["Hello there", "second line"]
    assert "The file has no audio track: what is said comes from its subtitles." in result.notes


def test_bitmap_only_file_is_noted_and_falls_back_to_speech(
        tmp_path: Path, model_opts: dict[str, Any], cli_runner: CliRunner,
        tiny_models: dict[str, Path]) -> None:
    video = subbed(tmp_path, "dvd.mkv", [], bitmap=True)
    result = summarize(video, no_llm=True, interval=3, **model_opts)
    assert any("holds pictures, not text: it was skipped" in n for n in result.notes)
    assert result.speech["source"]["kind"] == "asr"
    res = cli_runner.invoke(cli, [str(video), *cli_args(tiny_models, tmp_path / "out"),
                                   "--no-llm", "--transcript", "subtitles"])
    assert res.exit_code == EXIT_INPUT_FAILED
    assert "dvd.mkv: subtitles: no text subtitles" in res.output
    assert "only subtitles are pictures" in res.output and "Traceback" not in res.output


# -- sidecars --------------------------------------------------------------------------------

@pytest.fixture
def video(tmp_path: Path) -> Path:
    return make_clip(tmp_path / "talk.mp4", seconds=3.0, fps=10, audio=True)


def test_sidecar_srt_is_the_transcript_and_reaches_prompt_and_json(
        video: Path, tmp_path: Path, tiny_models: dict[str, Path], chat_server: Any,
        cli_runner: CliRunner) -> None:
    (video.parent / "talk.srt").write_text(SRT, encoding="utf-8")
    out = tmp_path / "out"
    res = cli_runner.invoke(cli, [str(video), *cli_args(tiny_models, out), "--interval", "1",
                                   "--base-url", chat_server.base_url,
                                   "--llm-model", "test-model", "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads((out / "talk.summary.json").read_text(encoding="utf-8"))
    assert data["transcript"] == [{"start": 0.5, "end": 1.2, "text": "Hello there"},
                                  {"start": 1.5, "end": 2.5, "text": "second line"}]
    assert data["speech"]["source"] == {"kind": "subtitles", "from": "sidecar",
                                        "file": "talk.srt", "language": None}
    prompt = user_message(chat_server.requests[0])
    assert "00:00 say: Hello there" in prompt and "00:01 say: second line" in prompt
    assert "The transcript is the subtitles (file talk.srt, language not given)" in prompt


def test_sidecars_by_language_and_our_own_caption_outputs_ignored(
        video: Path, model_opts: dict[str, Any]) -> None:
    folder = video.parent
    (folder / "talk.en.srt").write_text(SRT, encoding="utf-8")
    (folder / "talk.de.vtt").write_text(VTT, encoding="utf-8")
    (folder / "talk.captions.srt").write_text(SRT.replace("Hello", "CAPTION"), encoding="utf-8")
    result = summarize(video, no_llm=True, interval=3, language="de", **model_opts)
    assert texts(result) == ["vtt & cue"] and result.language == "de"
    assert result.speech["source"]["file"] == "talk.de.vtt"
    result = summarize(video, no_llm=True, interval=3, **model_opts)
    assert result.speech["source"]["file"] == "talk.de.vtt"  # the first by name
    (folder / "talk.vtt").write_text(VTT.replace("vtt", "plain"), encoding="utf-8")
    result = summarize(video, no_llm=True, interval=3, **model_opts)
    assert texts(result) == ["plain & cue"]  # NAME.vtt before NAME.LANG.*


def test_transcript_asr_ignores_sidecars(video: Path, model_opts: dict[str, Any]) -> None:
    (video.parent / "talk.srt").write_text(SRT, encoding="utf-8")
    result = summarize(video, no_llm=True, interval=3, transcript_source="asr", **model_opts)
    assert result.speech["source"]["kind"] == "asr"
    assert result.speech["source"]["model"] == model_opts["whisper_model"]
    assert "Hello there" not in " ".join(texts(result))


def test_transcript_subtitles_without_any_is_a_one_line_error(
        video: Path, tmp_path: Path, tiny_models: dict[str, Path],
        cli_runner: CliRunner) -> None:
    res = cli_runner.invoke(cli, [str(video), *cli_args(tiny_models, tmp_path / "out"),
                                   "--no-llm", "--transcript", "subtitles"])
    assert res.exit_code == EXIT_INPUT_FAILED
    line = next(ln for ln in res.output.splitlines() if "no text subtitles" in ln)
    assert "talk.mp4: subtitles: no text subtitles in the file or next to it" in line
    assert "NAME.srt" in line and "--transcript auto" in line
    assert "Traceback" not in res.output


@pytest.mark.parametrize(("data", "expected"), [
    (b"\xef\xbb\xbf" + SRT.encode("utf-8"), "Hello there"),
    (SRT.replace("Hello", "Caf\u00e9").encode("cp1252"), "Caf\u00e9 there"),
    ("\ufeff".encode("utf-16-le") + SRT.replace("Hello", "\u00dcber").encode("utf-16-le"),
     "\u00dcber there"),
    (SRT.replace("Hello", "\u00c0 bient\u00f4t").encode("utf-16-be"), "\u00c0 bient\u00f4t there"),
    (SRT.replace("Hello", "Gr\u00fc\u00dfe").replace("\n", "\r\n").encode("utf-8"),
     "Gr\u00fc\u00dfe there"),
])
def test_sidecar_encodings(video: Path, model_opts: dict[str, Any], data: bytes,
                           expected: str) -> None:
    (video.parent / "talk.en.srt").write_bytes(data)
    result = summarize(video, no_llm=True, interval=3, **model_opts)
    assert texts(result) == [expected, "second line"] and result.language == "en"


def test_broken_timestamps_are_skipped_with_a_note(video: Path,
                                                   model_opts: dict[str, Any]) -> None:
    broken = ("1\n00:00:xx,500 --> 00:00:01,200\nlost\n\n2\n00:00:01,500 --> 00:00:02,500\nkept\n"
              "\n3\nno timing at all\n\n4\n00:00:02,600 --> 00:00:02,900\n\n")
    (video.parent / "talk.srt").write_text(broken, encoding="utf-8")
    result = summarize(video, no_llm=True, interval=3, **model_opts)
    assert texts(result) == ["kept"]
    assert any("2 cue(s) of the subtitles (file talk.srt) had unreadable timestamps" in n
               for n in result.notes)


def test_huge_sidecar_is_not_read(video: Path, model_opts: dict[str, Any]) -> None:
    huge = video.parent / "talk.srt"
    with open(huge, "wb") as f:  # sparse: over the limit without writing it
        f.write(SRT.encode("utf-8"))
        f.truncate(MAX_SUBTITLE_BYTES + 1)
    result = summarize(video, no_llm=True, interval=3, **model_opts)
    assert result.speech["source"]["kind"] == "asr"
    assert any("talk.srt) could not be used" in n and "over the limit" in n
               for n in result.notes)
    with pytest.raises(InputError, match="over the limit"):
        summarize(video, no_llm=True, interval=3, transcript_source="subtitles", **model_opts)


# -- speech recognition's note, limits, options ------------------------------------------------

def test_speech_recognition_is_named_in_prompt_and_json(
        tmp_path: Path, tiny_models: dict[str, Path], chat_server: Any,
        model_opts: dict[str, Any]) -> None:
    video = media_file("speech_video/talkinghead_vfr_videoretalking_face1.mp4")
    result = summarize(video, interval=3, base_url=chat_server.base_url,
                       llm_model="test-model", **model_opts)
    assert result.transcript, "tiny whisper emits gibberish segments on real speech"
    source = result.speech["source"]
    assert source["kind"] == "asr" and source["model"] == model_opts["whisper_model"]
    assert source["language"] == result.language
    note = (f"The transcript comes from speech recognition ({source['backend']}, language "
            f"{result.language}).")
    assert note in result.notes and note in user_message(chat_server.requests[0])


def test_an_embedded_track_is_read_up_to_the_byte_limit(tmp_path: Path) -> None:
    from summarize_video.media.subtitle_tracks import read_cues, track_cues

    video = subbed(tmp_path, "long.mkv", [("srt", SRT, "eng", False)])
    whole = track_cues(video, 2, MAX_SUBTITLE_BYTES, timeout=60)
    assert [c[2] for c in whole.cues] == ["{\\i1}Hello{\\i0} there", "second {\\b1}line{\\b0}"]
    assert not whole.truncated
    cut = read_cues(video, 2, max_bytes=len(whole.cues[0][2]) + 3)
    assert len(cut.cues) == 1 and cut.truncated


def test_unknown_transcript_source_is_a_config_error() -> None:
    from summarize_video.errors import ConfigError
    from summarize_video.options import Options

    with pytest.raises(ConfigError, match="unknown transcript source 'ocr'"):
        Options(transcript_source="ocr")


def test_embedded_track_before_sidecar_unless_the_sidecar_matches_the_language(
        tmp_path: Path, model_opts: dict[str, Any]) -> None:
    video = subbed(tmp_path, "both.mkv", [("srt", SRT, "eng", False)])
    (tmp_path / "both.de.vtt").write_text(VTT, encoding="utf-8")
    inside = summarize(video, no_llm=True, interval=3, **model_opts)
    assert inside.speech["source"]["from"] == "stream" and texts(inside)[0] == "Hello there"
    beside = summarize(video, no_llm=True, interval=3, language="de", **model_opts)
    assert beside.speech["source"] == {"kind": "subtitles", "from": "sidecar",
                                       "file": "both.de.vtt", "language": "de"}
