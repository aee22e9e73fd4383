"""The provenance block: versions, models, prompt hashes, settings without secrets, the input."""

from __future__ import annotations

import json
import types
from importlib import metadata
from pathlib import Path
from typing import Any

from summarize_video import Options, __version__, summarize
from summarize_video.pipeline.cache import hash_file
from summarize_video.pipeline.provenance import build_provenance, settings_record
from summarize_video.prompting import load_prompt, prompt_hash
from tests.clips import make_clip
from tests.secrets_scan import SENTINEL


def test_provenance_of_a_full_run(tmp_path: Path, tiny_models: dict[str, Path],
                                  chat_server: Any, model_opts: dict[str, Any]) -> None:
    clip = make_clip(tmp_path / "talk.mp4", seconds=4.0, fps=10)
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "system.md").write_text(load_prompt("system.md") + "\nBe brief.\n")
    result = summarize(clip, interval=2, base_url=chat_server.base_url, llm_model="test-model",
                       api_key=SENTINEL, prompts_dir=prompts, **model_opts)
    data = result.to_dict()
    assert SENTINEL not in json.dumps(data)
    p = data["provenance"]
    assert p["tool"] == {"name": "summarize-video", "version": __version__}
    assert p["python"].count(".") == 2
    for name in ("torch", "transformers", "openai-whisper", "av", "openai"):
        assert p["packages"][name] == metadata.version(name)
    assert p["models"]["captioner"] == {"backend": "onnx",  # auto on the CPU
                                        "class": "OnnxCaptioner",
                                        "model_id": str(tiny_models["smolvlm"]),
                                        "revision": None, "compute_type": "int8"}
    assert p["models"]["transcriber"]["model_id"] == str(tiny_models["whisper"])
    assert p["models"]["reasoner"] == {"backend": "openai", "class": "OpenAIReasoner",
                                       "model_id": "test-model", "revision": None}
    assert p["prompts"] == {
        "caption.txt": {"sha256_16": prompt_hash("caption.txt"), "from": "shipped"},
        "system.md": {"sha256_16": prompt_hash("system.md", prompts), "from": "prompts_dir"},
        "summary.md": {"sha256_16": prompt_hash("summary.md"), "from": "shipped"},
    }
    assert p["prompts"]["system.md"]["sha256_16"] != prompt_hash("system.md")
    assert p["prompts_dir"] == str(prompts)
    assert p["settings"]["interval"] == 2.0 and "api_key" not in p["settings"]
    assert set(p["settings"]) == {f for f in Options.__dataclass_fields__} - {"api_key"}
    assert p["input"] == {"path": str(clip), "url": None, "file_name": "talk.mp4",
                          "sha256": hash_file(clip), "size_bytes": clip.stat().st_size}
    assert p["timings"] == "#/timings_s" and data["timings_s"]["total"] > 0
    assert p["created_at"].endswith("+00:00")


def test_without_cache_the_input_is_still_hashed(tmp_path: Path,
                                                 model_opts: dict[str, Any]) -> None:
    audio = make_clip(tmp_path / "voice.m4a", seconds=2.0, video=False)
    result = summarize(audio, no_llm=True, no_cache=True, **model_opts)
    p = result.to_dict()["provenance"]
    assert p["input"]["sha256"] == hash_file(audio) and result.cache == {}
    assert p["models"]["captioner"] is None and p["models"]["reasoner"] is None
    assert p["models"]["transcriber"]["backend"] == "whisper"
    assert p["prompts"] == {} and p["settings"]["no_cache"] is True


def test_dry_run_windows_and_hub_revisions(tmp_path: Path) -> None:
    f = tmp_path / "a.mp4"
    f.write_bytes(b"x" * 10)
    o = Options(dry_run=True, output_dir=tmp_path, formats=("json",))
    # A loaded hub model reports the commit its weights came from (TransformersCaptioner.commit).
    hub = types.SimpleNamespace(model_id="org/cap", revision=None, commit="0123abcd")
    p = build_provenance(o, path=f, source="https://h/a.mp4", file_hash="ff", captioner=hub,
                         transcriber=None, reasoner=None, reasoning={"windows": 3})
    assert p["models"]["captioner"]["revision"] == "0123abcd"
    assert p["models"]["reasoner"]["model_id"] == o.llm_model
    assert set(p["prompts"]) == {"caption.txt", "system.md", "summary.md", "partial.md"}
    assert p["input"]["path"] == p["input"]["url"] == "https://h/a.mp4"
    assert p["input"]["size_bytes"] == 10
    record = settings_record(o.replace(api_key=SENTINEL))
    assert record["output_dir"] == str(tmp_path) and record["formats"] == ["json"]
    assert SENTINEL not in json.dumps(record)
