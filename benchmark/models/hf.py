"""Hugging Face `transformers` VideoMAE: the config of a protocol's model and official -> Hugging Face names (the
inverse of `checkpoints.hf_to_official`), for `bench export --format hf` and the parity measurements."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from benchmark.config import ClipConfig, ModelConfig
from benchmark.errors import BenchError
from benchmark.models.checkpoints import _BLOCK


def hf_config(model: ModelConfig, clip: ClipConfig, classes: int | None = None, attn: str = "sdpa",
              mean_pooling: bool = True):
    """transformers.VideoMAEConfig of the protocol's model: mean pooling for a classifier (VideoMAE's finetuning),
    the final layer norm instead for a pretraining model (its encoder ends with one)."""
    import transformers

    from benchmark.models.videomae import SIZES
    s = SIZES[model.size]
    kw = {"num_labels": classes} if classes else {}
    return transformers.VideoMAEConfig(
        image_size=clip.size, patch_size=model.patch_size, num_frames=clip.frames, tubelet_size=model.tubelet_size,
        hidden_size=s.embed_dim, num_hidden_layers=s.depth, num_attention_heads=s.num_heads,
        intermediate_size=4 * s.embed_dim, decoder_hidden_size=s.decoder_dim,
        decoder_num_hidden_layers=model.decoder_depth or s.decoder_depth, decoder_num_attention_heads=s.decoder_heads,
        decoder_intermediate_size=4 * s.decoder_dim, use_mean_pooling=mean_pooling, qkv_bias=True,
        image_mean=list(clip.mean), image_std=list(clip.std), attn_implementation=attn, **kw)


def official_to_hf(state: Mapping[str, torch.Tensor], hf_keys: set[str]) -> dict[str, torch.Tensor]:
    """Rename an official-named state dict (a pretraining model, or a classifier / encoder) to the keys of the
    Hugging Face model `hf_keys` came from; q/v biases go to whichever names that transformers version uses, and
    the key bias (zero in VideoMAE) is added where it has one. Every key must find its place."""
    pretraining = any(k.startswith("encoder.") for k in state)
    enc = "encoder." if pretraining else ""
    block = dict(_BLOCK)
    q_bias = "attention.attention.query.bias" if any(k.endswith("attention.attention.query.bias") for k in hf_keys) \
        else "attention.attention.q_bias"
    v_bias = q_bias.replace("query", "value").replace("q_bias", "v_bias")
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        for official, hf in ((f"{enc}blocks.", "videomae.encoder.layer."),
                             ("decoder.blocks.", "decoder.decoder_layers.")):
            if not key.startswith(official):
                continue
            i, rest = key[len(official):].split(".", 1)
            base = f"{hf}{i}."
            if rest in block:
                out[base + block[rest]] = value
            elif rest == "attn.qkv.weight":
                q, k, v = value.chunk(3)
                for name, w in (("query", q), ("key", k), ("value", v)):
                    out[f"{base}attention.attention.{name}.weight"] = w
            elif rest == "attn.q_bias":
                out[base + q_bias] = value
                if f"{base}attention.attention.key.bias" in hf_keys:
                    out[f"{base}attention.attention.key.bias"] = torch.zeros_like(value)
            elif rest == "attn.v_bias":
                out[base + v_bias] = value
            else:
                raise BenchError(f"no Hugging Face name for {key}")
            break
        else:
            out[{f"{enc}patch_embed.proj.weight": "videomae.embeddings.patch_embeddings.projection.weight",
                 f"{enc}patch_embed.proj.bias": "videomae.embeddings.patch_embeddings.projection.bias",
                 f"{enc}norm.weight": "videomae.layernorm.weight", f"{enc}norm.bias": "videomae.layernorm.bias",
                 "fc_norm.weight": "fc_norm.weight", "fc_norm.bias": "fc_norm.bias",
                 "head.weight": "classifier.weight", "head.bias": "classifier.bias"}.get(key, key)] = value
    if not pretraining and not any(k.startswith("videomae.") for k in hf_keys):  # a bare VideoMAEModel
        out = {k.removeprefix("videomae."): v for k, v in out.items()}
    return out
