"""One source of truth for what shapes a result (``pipeline/fingerprint.py``): every option is
in the table of the stage it changes or listed as shaping nothing, and the cache keys and the
ledger fingerprint follow those tables, and stay what earlier versions wrote."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from summarize_video.captioning import registry as captioning
from summarize_video.captioning.transformers import TransformersCaptioner
from summarize_video.options import Options
from summarize_video.pipeline import fingerprint as fp
from summarize_video.pipeline.cache import Cache, stable_key
from summarize_video.transcription import registry as transcription
from summarize_video.transcription.whisper import WhisperBackend
from tests.support import LEDGER_DIGEST

SHAPING = {
    "caption": (*fp.CAPTION_FIELDS, *fp.INTERVAL_FIELDS),
    "scene": fp.SCENE_FIELDS,
    "transcript": fp.TRANSCRIPT_FIELDS,
    "screen": fp.SCREEN_FIELDS,
    "summary": fp.SUMMARY_FIELDS,
    "run": fp.RUN_FIELDS,
}
# A valid value other than the default, for every option.
OTHER: dict[str, Any] = {
    "interval": 7.0, "captioner": "other", "caption_model": "org/other",
    "trust_remote_code": True, "caption_batch_size": 2, "threads": 1, "caption_max_new_tokens": 30,
    "caption_context": "speech", "ocr": "off", "caption_precision": "fp32", "frame_max_side": 512,
    "sampling": "scene",
    "scene_threshold": 10.0, "min_scene_gap": 2.0, "max_scene_gap": 10.0,
    "dedup_threshold": 0.5, "workers": 3, "max_pixels": 100, "max_fps": 10.0,
    "max_duration": 10.0, "decode_timeout": 5.0, "transcriber": "other",
    "whisper_model": "small", "compute_type": "float32", "temperature": 0.3,
    "temperature_increment": 0.0, "transcript_source": "asr",
    "language": "de", "silence_gate": False, "vad": "off", "no_speech_threshold": 0.5,
    "logprob_threshold": -2.0, "compression_ratio_threshold": 3.0, "reasoner": "openai",
    "llm_model": "other-model", "base_url": "http://127.0.0.1:9/v1", "api_key": "k",
    "timeout": 5.0, "llm_max_retries": 0, "llm_max_output_tokens": 100, "device": "cpu",
    "output_dir": Path("elsewhere"), "formats": ("json",), "thumbnails": False,
    "prompts_dir": Path(__file__).parent, "context_tokens": 5000, "focus": "why?",
    "dry_run": True, "prices_file": Path("prices.toml"), "no_llm": True,
    "cache_dir": Path("cache"), "no_cache": True, "max_download_mb": 1,
}


class OtherCaptioner(TransformersCaptioner):
    name = "other"


class OtherBackend(WhisperBackend):
    name = "other"


@pytest.fixture(autouse=True)
def other_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(captioning.CAPTIONERS, "other", OtherCaptioner)
    monkeypatch.setitem(transcription.TRANSCRIBERS, "other", OtherBackend)


def keys(o: Options) -> dict[str, Any]:
    """The caption key, transcript key and ledger fingerprint of a run with options ``o``."""
    captioner = captioning.create_captioner(o.captioner, o)
    transcriber = transcription.create_transcriber(o.transcriber, o)
    return {
        "caption": fp.caption_key(o, captioner, "prompt", "context $speech", None),
        "transcript": fp.transcript_key(o, transcriber),
        "ledger": fp.ledger_fingerprint(o),
    }


def test_every_option_is_in_exactly_one_table() -> None:
    names = [f.name for f in dataclasses.fields(Options)]
    listed = [n for table in SHAPING.values() for n in table] + list(fp.NOT_SHAPING)
    assert sorted(listed) == sorted(names), "an option is missing from, or twice in, the tables"
    assert set(OTHER) == set(names)


@pytest.mark.parametrize("name", [n for table in SHAPING.values() for n in table])
def test_a_shaping_option_changes_its_stage_and_only_its_stage(name: str) -> None:
    base = Options(sampling="scene") if name in fp.SCENE_FIELDS else Options()
    before, after = keys(base), keys(base.replace(**{name: OTHER[name]}))
    assert after["ledger"] != before["ledger"]
    stage = next(s for s, table in SHAPING.items() if name in table)
    changed = {k for k in ("caption", "transcript") if after[k] != before[k]}
    expected = {"caption": {"caption"}, "scene": {"caption"}, "transcript": {"transcript"},
                "screen": set(), "summary": set(), "run": set()}[stage]
    if name == "caption_model":
        expected = {"caption"}  # through the captioner's resolved model id
    assert changed == expected


@pytest.mark.parametrize("name", sorted(fp.NOT_SHAPING))
def test_an_option_listed_as_not_shaping_changes_no_key(name: str) -> None:
    base = Options()
    assert keys(base.replace(**{name: OTHER[name]})) == keys(base)


def test_keys_and_fingerprints_are_those_earlier_versions_wrote() -> None:
    """Digests that the release before the stage folders computed for the same options (its
    only transcriber was openai-whisper, its only captioner transformers): existing ledgers
    keep matching (the cache keys' params are checked field by field). Renewed once on purpose
    when captions became one sentence (default cap 60 -> 32 tokens, caption prompts asking for
    at most 25 words): captions made before are not those a run makes now."""
    w = Options(transcriber="whisper", captioner="transformers")
    assert fp.ledger_fingerprint(w) == LEDGER_DIGEST
    assert fp.ledger_fingerprint(w.replace(sampling="scene", focus="q", trust_remote_code=True)
                                 ) == "8c6d9aae3ed50f1cf87e12af800bd763"
    assert fp.ledger_fingerprint(w.replace(no_llm=True, caption_context="speech")
                                 ) == "1172a6f55a22e374b75f7b02c5f19fbe"
    o = Options(captioner="transformers")
    captioner = captioning.create_captioner("transformers", o)
    assert fp.caption_key(o, captioner, "p", "c", None) == {
        "captioner": "transformers", "model": o.caption_model, "revision": None,
        "prompt": fp.text_hash("p"), "max_new_tokens": 32, "max_side": 768,
        "sampling": "interval", "dedup": o.dedup_threshold, "context": "none",
        "interval": 5.0}


def test_an_older_cache_is_migrated_and_keeps_its_hits(tmp_path: Path) -> None:
    """A cache written before backends had registry names (class names in its keys)."""
    o = Options(transcriber="whisper")
    transcriber = transcription.create_transcriber("whisper", o)
    new_params = fp.transcript_key(o, transcriber)
    old_params = {**new_params, "transcriber": "WhisperTranscriber"}
    db = sqlite3.connect(tmp_path / "cache.sqlite3")
    db.execute("CREATE TABLE entries (key TEXT PRIMARY KEY, stage TEXT NOT NULL, file_hash "
               "TEXT NOT NULL, params TEXT NOT NULL, value TEXT NOT NULL, created REAL NOT "
               "NULL)")
    db.execute("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?)",
               (stable_key("transcript", "ab" * 32, old_params), "transcript", "ab" * 32,
                json.dumps(old_params, sort_keys=True), json.dumps({"segments": []}), 0.0))
    db.commit()
    db.close()
    cache = Cache(tmp_path)
    try:
        assert cache.get("transcript", "ab" * 32, new_params) == {"segments": []}
        assert cache.get("transcript", "ab" * 32, old_params) is None
    finally:
        cache.close()
    cache = Cache(tmp_path)  # a second open finds it migrated and changes nothing
    try:
        assert cache.stats() == {"transcript": 1}
    finally:
        cache.close()


def test_prompt_files_of_the_ledger_and_of_provenance() -> None:
    o = Options()
    assert fp.prompt_files(o) == ["caption.txt", "system.md", "summary.md", "partial.md"]
    assert fp.prompt_files(o, summary=True, windows=1) == ["caption.txt", "system.md",
                                                           "summary.md"]
    assert fp.prompt_files(o.replace(no_llm=True, caption_context="speech")) == [
        "caption.txt", "caption_context.txt"]


def test_faster_whisper_keys_name_the_backend_and_its_compute_type() -> None:
    """``auto`` picks faster-whisper when it is installed (but an openai-whisper .pt checkpoint
    goes to whisper); its transcript key carries the compute type resolved for the device, and
    the ledger names it even at its default."""
    pytest.importorskip("faster_whisper")
    o = Options(device="cpu")
    assert transcription.resolve_transcriber("auto", "cpu") == "faster-whisper"
    assert transcription.resolve_transcriber("auto", "cpu", "/models/tiny.pt") == "whisper"
    fast = transcription.create_transcriber("auto", o)
    key = fp.transcript_key(o, fast)
    assert key["transcriber"] == "faster-whisper"
    assert key["compute_type"] == "int8"
    float32 = o.replace(compute_type="float32")
    assert fp.transcript_key(float32, transcription.create_transcriber("auto", float32)
                             )["compute_type"] == "float32"
    whisper = o.replace(transcriber="whisper")
    slow = transcription.create_transcriber("whisper", whisper)
    assert "compute_type" not in fp.transcript_key(whisper, slow)
    # A compute type set for the backend that has none changes nothing of its key.
    assert fp.transcript_key(whisper.replace(compute_type="int8"), slow) == fp.transcript_key(
        whisper, slow)
    assert len({fp.ledger_fingerprint(o), fp.ledger_fingerprint(float32),
                fp.ledger_fingerprint(whisper)}) == 3
