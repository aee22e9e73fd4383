"""Idefics3 (SmolVLM v1) as two plain torch graphs that export cleanly: the vision side and one
decoder step with its key/value cache as explicit inputs and outputs.

Both read the weights of a loaded ``Idefics3ForConditionalGeneration``; nothing is copied.
``VisionGraph(pixel_values[N,3,H,W]) -> features[N, image_tokens, hidden]`` (frames whole:
image splitting off, no padded patches). ``DecoderStep(embeds[B,T,D], attention_mask[B,P+T],
position_ids[B,T], k0, v0, k1, v1, ...) -> (logits of the last position[B,V], k0', v0', ...)``:
a Llama decoder with rotary positions, grouped-query attention and left padding, the same
arithmetic as transformers' eager path. This module imports torch at import time: the
backends import it lazily.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def supports(model: Any) -> str | None:
    """Why ``model`` cannot take this route (None: it can)."""
    config = getattr(model, "config", None)
    if getattr(config, "model_type", None) != "idefics3":
        return f"model type {getattr(config, 'model_type', None)!r} is not idefics3"
    text = config.text_config
    if getattr(text, "model_type", None) != "llama":
        return f"text model {getattr(text, 'model_type', None)!r} is not llama"
    if getattr(text, "attention_bias", False) or getattr(text, "mlp_bias", False):
        return "biased attention or MLP"
    if getattr(text, "hidden_act", "silu") != "silu":
        return f"activation {text.hidden_act!r}"
    if float(getattr(model.model.text_model.rotary_emb, "attention_scaling", 1.0)) != 1.0:
        return "scaled rotary embeddings"
    return None


class VisionGraph(nn.Module):
    """Pixels of whole frames to the image-token features the decoder reads."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        inner = model.model
        self.vision = inner.vision_model
        self.connector = inner.connector

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        emb = self.vision.embeddings
        patches = emb.patch_embedding(pixel_values).flatten(2).transpose(1, 2)
        # A whole frame's patch positions are 0..n-1 (what the bucketing gives without padding).
        hidden = patches + emb.position_embedding.weight[: patches.shape[1]].unsqueeze(0)
        hidden = self.vision.encoder(inputs_embeds=hidden, attention_mask=None).last_hidden_state
        return self.connector(self.vision.post_layernorm(hidden))


def _rms(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    variance = x.pow(2).mean(-1, keepdim=True)
    return weight * (x * torch.rsqrt(variance + eps))


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class DecoderStep(nn.Module):
    """One pass of the Llama text model over ``T`` new positions, given ``P`` cached ones."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        text = model.model.text_model
        cfg = model.config.text_config
        self.layers = text.layers
        self.norm = text.norm
        self.lm_head = model.lm_head
        self.register_buffer("inv_freq", text.rotary_emb.inv_freq.detach().clone(),
                             persistent=False)
        self.heads = int(cfg.num_attention_heads)
        self.kv_heads = int(cfg.num_key_value_heads)
        self.head_dim = int(getattr(cfg, "head_dim", None) or cfg.hidden_size // self.heads)
        self.eps = float(cfg.rms_norm_eps)

    def _attend(self, layer: Any, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                mask: torch.Tensor, past_k: torch.Tensor, past_v: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        attn = layer.self_attn
        b, t, _ = x.shape
        q = attn.q_proj(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = attn.k_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = attn.v_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        k = torch.cat([past_k, k], dim=2)
        v = torch.cat([past_v, v], dim=2)
        # Grouped-query attention without copying the cache once per query head: the query
        # heads that share a key/value head are stacked as rows of one product.
        groups = self.heads // self.kv_heads
        qg = q.reshape(b, self.kv_heads, groups * t, self.head_dim)
        scores = torch.matmul(qg, k.transpose(2, 3)) * (self.head_dim ** -0.5)
        scores = scores + mask.repeat(1, 1, groups, 1)
        probs = torch.softmax(scores.float(), dim=-1).to(q.dtype)
        out = torch.matmul(probs, v).reshape(b, self.heads, t, self.head_dim)
        out = out.transpose(1, 2).reshape(b, t, self.heads * self.head_dim)
        return attn.o_proj(out), k, v

    def forward(self, embeds: torch.Tensor, attention_mask: torch.Tensor,
                position_ids: torch.Tensor, *past: torch.Tensor) -> tuple[torch.Tensor, ...]:
        t = embeds.shape[1]
        total = attention_mask.shape[1]
        freqs = position_ids.unsqueeze(-1).to(torch.float32) * self.inv_freq
        angles = torch.cat((freqs, freqs), dim=-1)
        cos = angles.cos().unsqueeze(1).to(embeds.dtype)
        sin = angles.sin().unsqueeze(1).to(embeds.dtype)
        # Causal over the new positions, and no attention to left padding.
        query_pos = torch.arange(t, device=embeds.device).unsqueeze(1) + (total - t)
        key_pos = torch.arange(total, device=embeds.device).unsqueeze(0)
        allowed = (key_pos <= query_pos).unsqueeze(0) & attention_mask.bool().unsqueeze(1)
        mask = torch.where(allowed, 0.0, torch.finfo(torch.float32).min).unsqueeze(1)
        hidden = embeds
        presents: list[torch.Tensor] = []
        for i, layer in enumerate(self.layers):
            out, k, v = self._attend(layer, _rms(hidden, layer.input_layernorm.weight, self.eps),
                                     cos, sin, mask, past[2 * i], past[2 * i + 1])
            hidden = hidden + out
            x = _rms(hidden, layer.post_attention_layernorm.weight, self.eps)
            mlp = layer.mlp
            hidden = hidden + mlp.down_proj(nn.functional.silu(mlp.gate_proj(x)) * mlp.up_proj(x))
            presents += [k, v]
        last = _rms(hidden[:, -1, :], self.norm.weight, self.eps)
        return (self.lm_head(last), *presents)
