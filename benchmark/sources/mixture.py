"""`mixture`: clips from several registered clip sources in fixed ratios.

The papers' mixtures: accelerating shapes with 5% static-image clips (Yu et al. Table 2), shapes + 25% natural
video (Yu Table 11), natural video + PMG (Ishikawa Table 6; the ratio is not stated, 1:1 here). Each clip index
goes to exactly one component, which renders it with the same index (so components never share a clip):

- `assign: interleave` (default): a deterministic low-discrepancy interleave. Component k takes index i when
  floor((i + 1) q) > floor(i q), q its share of the components not yet assigned, over the indices they left:
  every run of N consecutive indices (an epoch, a batch) holds N * share_k clips of component k, within +-1 per
  component before it.
- `assign: random`: an independent draw per index with probabilities = shares (exact only in expectation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

import numpy as np

from benchmark.config import build, to_dict
from benchmark.errors import BenchError
from benchmark.sources.base import CLIP_SOURCES, ClipSource, make_source, register


@dataclass
class Component:
    source: str = ""  # any registered clip source
    weight: float = 1.0  # relative; shares are weights / their sum
    params: dict[str, Any] = field(default_factory=dict)  # that source's parameters (else its defaults)


@dataclass
class MixtureParams:
    components: list[Component] = field(default_factory=lambda: [Component("natural", 1.0), Component("pmg", 1.0)])
    assign: Literal["interleave", "random"] = "interleave"

    def validate(self, where: str) -> None:
        if not self.components:
            raise BenchError(f"key {where}.components must list at least one {{source, weight, params}}")
        for i, c in enumerate(self.components):
            key = f"{where}.components[{i}]"
            if c.source not in CLIP_SOURCES:
                raise BenchError(f"key {key}.source: {c.source!r} is not a clip source (scratch and checkpoint "
                                 f"have no clips to mix; `bench sources` lists them)")
            entry = CLIP_SOURCES.get(c.source)
            if not c.weight > 0:
                raise BenchError(f"key {key}.weight must be > 0, got {c.weight!r}")
            build(entry.params, c.params, f"{key}.params")


def shares(weights: list[float]) -> list[Fraction]:
    """Weights -> exact fractions summing to 1 (so the interleave is exact integer arithmetic)."""
    w = [Fraction(x).limit_denominator(10 ** 6) for x in weights]
    return [x / sum(w) for x in w]


def interleave(index: int, parts: list[Fraction]) -> int:
    """The component of `index` under the nested floor interleave (module docstring)."""
    rest = Fraction(1)
    for k, share in enumerate(parts[:-1]):
        q = share / rest
        taken_before, taken_with = (index * q).__floor__(), ((index + 1) * q).__floor__()
        if taken_with > taken_before:
            return k
        index -= taken_with  # renumber among the indices left to the remaining components
        rest -= share
    return len(parts) - 1


@register("mixture", "A mixture of clip sources in fixed ratios (source.components: a list of {source, weight, "
          "params}); e.g. synthetic shapes + 5% static images (Yu Table 2), shapes + 25% natural video (Yu Table "
          "11), natural video + PMG (Ishikawa Table 6; default, 1:1). Indices are interleaved so every epoch holds "
          "the exact ratio (source.assign=random: a draw per clip).", params=MixtureParams)
class Mixture(ClipSource):
    def __init__(self, params: MixtureParams, seed: int, clip_size: int):
        self.p, self.seed = params, seed
        self.names = [CLIP_SOURCES.canonical(c.source) for c in params.components]
        self.params = [build(CLIP_SOURCES.get(n).params, c.params, "source")
                       for n, c in zip(self.names, params.components, strict=True)]
        self.sources = [make_source(n, q, seed, clip_size) for n, q in zip(self.names, self.params, strict=True)]
        self.parts = shares([c.weight for c in params.components])

    def component(self, index: int) -> int:
        if self.p.assign == "random":
            return int(np.random.default_rng([self.seed, index, 3]).choice(len(self.parts),
                                                                           p=[float(s) for s in self.parts]))
        return interleave(index, self.parts)

    def clip(self, index: int, frames: int, stride: int) -> np.ndarray:
        return self.sources[self.component(index)].clip(index, frames, stride)

    @property
    def skipped(self) -> set[str]:
        return set().union(*(s.skipped for s in self.sources))

    def info(self) -> dict:
        return {"assign": self.p.assign, "components": [
            {"source": n, "share": round(float(s), 6), "params": to_dict(q), **src.info()}
            for n, s, q, src in zip(self.names, self.parts, self.params, self.sources, strict=True)]}
