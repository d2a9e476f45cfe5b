"""Checkpoint import: official VideoMAE (.pth) and Hugging Face `transformers` VideoMAE weights, loaded strictly.

Our modules use the official MCG-NJU parameter names, so an official state dict needs no renaming. A Hugging Face
state dict is renamed here (`hf_to_official`); both the 4.x names (`attention.attention.q_bias`) and the 5.x
names (`attention.attention.query.bias`) are understood. Every load is strict: a missing or unexpected key is a
`BenchError` listing the keys, never a silently half-initialised model (transformers 5.x renamed the q/v biases to
`query.bias`/`value.bias`, and a non-strict load of a 4.x state dict leaves them at zero).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from benchmark.errors import BenchError

# official block suffix -> Hugging Face layer suffix (qkv is split/merged separately)
_BLOCK = [
    ("norm1.weight", "layernorm_before.weight"), ("norm1.bias", "layernorm_before.bias"),
    ("attn.proj.weight", "attention.output.dense.weight"), ("attn.proj.bias", "attention.output.dense.bias"),
    ("norm2.weight", "layernorm_after.weight"), ("norm2.bias", "layernorm_after.bias"),
    ("mlp.fc1.weight", "intermediate.dense.weight"), ("mlp.fc1.bias", "intermediate.dense.bias"),
    ("mlp.fc2.weight", "output.dense.weight"), ("mlp.fc2.bias", "output.dense.bias"),
]
_BLOCK_RE = re.compile(r"^(?P<prefix>videomae\.encoder\.layer|decoder\.decoder_layers)\.(?P<i>\d+)\.(?P<rest>.+)$")


def unwrap(state: Mapping) -> dict[str, torch.Tensor]:
    """The state dict inside an official checkpoint ({'model': ...}, {'module': ...}) without DDP prefixes."""
    for key in ("model", "module", "state_dict"):
        if key in state and isinstance(state[key], Mapping):
            state = state[key]
            break
    return {k.removeprefix("module."): v for k, v in state.items()}


def is_hf(state: Mapping) -> bool:
    return any(k.startswith(("videomae.", "classifier.", "embeddings.")) for k in state)


def hf_to_official(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a `VideoMAEForPreTraining` / `VideoMAEForVideoClassification` / `VideoMAEModel` state dict."""
    state = {("videomae." + k if k.startswith(("embeddings.", "encoder.", "layernorm.")) else k): v
             for k, v in state.items()}
    pretraining = any(k.startswith("decoder.") for k in state)
    enc = "encoder." if pretraining else ""
    out: dict[str, torch.Tensor] = {}
    qkv: dict[str, dict[str, torch.Tensor]] = {}
    block_map = {hf: off for off, hf in _BLOCK}
    for key, value in state.items():
        m = _BLOCK_RE.match(key)
        if m:
            base = (f"{enc}blocks" if m["prefix"].startswith("videomae") else "decoder.blocks") + f".{m['i']}."
            rest = m["rest"]
            if rest in block_map:
                out[base + block_map[rest]] = value
                continue
            part = {"attention.attention.query.weight": "q", "attention.attention.key.weight": "k",
                    "attention.attention.value.weight": "v", "attention.attention.q_bias": "q_bias",
                    "attention.attention.query.bias": "q_bias", "attention.attention.v_bias": "v_bias",
                    "attention.attention.value.bias": "v_bias"}.get(rest)
            if part is None:
                out[key] = value  # unknown: left as is, so the strict load names it
            else:
                qkv.setdefault(base, {})[part] = value
            continue
        renamed = {
            "videomae.embeddings.patch_embeddings.projection.weight": f"{enc}patch_embed.proj.weight",
            "videomae.embeddings.patch_embeddings.projection.bias": f"{enc}patch_embed.proj.bias",
            "videomae.layernorm.weight": f"{enc}norm.weight",
            "videomae.layernorm.bias": f"{enc}norm.bias",
            "classifier.weight": "head.weight",
            "classifier.bias": "head.bias",
        }.get(key, key)
        out[renamed] = value
    for base, parts in qkv.items():
        if {"q", "k", "v"} - parts.keys():
            raise BenchError(f"Hugging Face checkpoint lacks query/key/value weights for {base}attn")
        out[base + "attn.qkv.weight"] = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)
        for b in ("q_bias", "v_bias"):
            if b in parts:
                out[base + "attn." + b] = parts[b]
    return out


def load_strict(model: nn.Module, state: Mapping[str, torch.Tensor], what: str,
                allow_missing: tuple[str, ...] = (), allow_unexpected: tuple[str, ...] = ()) -> None:
    """load_state_dict(strict) with a one-line error; prefixes in allow_* may be missing/unexpected."""
    own = model.state_dict()
    state = {k: v for k, v in state.items() if not k.startswith(allow_unexpected) or k in own}
    missing = [k for k in own if k not in state and not k.startswith(allow_missing)]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        def few(keys):
            return ", ".join(keys[:4]) + (f" (+{len(keys) - 4} more)" if len(keys) > 4 else "")
        problems = [f"missing keys: {few(missing)}" if missing else "",
                    f"unexpected keys: {few(unexpected)}" if unexpected else "",
                    f"shape mismatches: {few(shapes)}" if shapes else ""]
        raise BenchError(f"{what} does not match the model ({'; '.join(p for p in problems if p)}): check "
                         f"model.size, clip.frames/size and the checkpoint's format")
    model.load_state_dict(state, strict=False)


def encoder_state(pretrain_state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Classifier weights from a pretraining checkpoint: the encoder, without its final norm (mean pooling
    replaces it with a fresh fc_norm), as the official finetuning script does."""
    if not any(k.startswith("encoder.") for k in pretrain_state):
        return dict(pretrain_state)  # already a classifier/encoder state dict
    return {k.removeprefix("encoder."): v for k, v in pretrain_state.items()
            if k.startswith("encoder.") and not k.startswith("encoder.norm.")}


def load_official(path: Path) -> Any:
    """torch.load of what the official (and Yu et al.'s) `utils.save_model` writes: {model, optimizer, epoch,
    scaler, args}, where `args` is the run's argparse.Namespace. Safe loading (weights_only) with exactly that one
    class allowed besides tensors and plain containers; any other object (a pickle that would run code) is refused
    in one line, naming it."""
    import argparse
    import pickle
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
        if found is None:
            raise
        raise BenchError(f"checkpoint {path} holds an object of type {found.group(1)}, which this harness does not "
                         f"load (only tensors, plain containers and the argparse.Namespace of VideoMAE's "
                         f"save_model): re-save its state dict with torch.save({{'model': state_dict}}, "
                         f"path)") from None


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Read an official .pth/.pt or a Hugging Face folder/.safetensors/.bin into official names."""
    path = Path(path)
    if path.is_dir():
        for name in ("model.safetensors", "pytorch_model.bin"):
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise BenchError(f"checkpoint folder {path} has no model.safetensors or pytorch_model.bin")
    if not path.is_file():
        raise BenchError(f"checkpoint {path} does not exist: give an official VideoMAE .pth or a Hugging Face "
                         f"model folder")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path))
        else:
            state = load_official(path)
    except BenchError:
        raise
    except Exception as e:  # noqa: BLE001 - any reader failure is a bad file for the user
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise BenchError(f"checkpoint {path} could not be read ({type(e).__name__}: {first})") from None
    if not isinstance(state, Mapping):
        raise BenchError(f"checkpoint {path} does not hold a state dict")
    state = unwrap(state)
    return hf_to_official(state) if is_hf(state) else state
