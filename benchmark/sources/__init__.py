"""Pretraining source registry, in the order `bench sources` lists them.

Each entry's `kind` says how a run uses it: "clips" (pretrain VideoMAE on its clips), "none" (no pretraining:
finetune from the random init) or "checkpoint" (load pretrained weights from a file).
"""

from __future__ import annotations

from typing import Any

from benchmark.config import build
from benchmark.registry import Registry

SOURCES = Registry("source")


def source_params(name: str, raw: dict) -> Any:
    entry = SOURCES.get(name)
    return build(entry.params, raw, "source")


def make_source(name: str, params: Any, seed: int, clip_size: int):
    """Build a source; `clip_size` is the protocol's crop side, for sources that decode at a matching scale."""
    return SOURCES.get(name).factory(params, seed=seed, clip_size=clip_size)


from benchmark.sources import scratch, natural, synthetic, pmg, static, mixture, checkpoint  # noqa: E402,F401,I001
# (importing registers them, in listing order)

__all__ = ["SOURCES", "make_source", "source_params"]
