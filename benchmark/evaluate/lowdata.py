"""Class-balanced, nested training subsets for low-data finetuning curves.

For a subset seed, every class's training videos are put in one random order (a generator seeded by (subset
seed, class)); a point takes a prefix of every class's order: `per_class` k takes min(k, n_c) videos of class c,
a fraction f takes max(1, round(f n_c)). Prefixes of one order are nested, so for one subset seed the subsets of
the per-class points are nested, and so are those of the fraction points.
"""

from __future__ import annotations

import numpy as np


def class_orders(labels: list[int], num_classes: int, subset_seed: int) -> list[np.ndarray]:
    labels_arr = np.asarray(labels)
    return [np.random.default_rng([subset_seed, c]).permutation(np.flatnonzero(labels_arr == c))
            for c in range(num_classes)]


def subset(orders: list[np.ndarray], per_class: int | None = None, fraction: float | None = None) -> list[int]:
    take = [min(per_class, len(o)) if per_class is not None else max(1, round(fraction * len(o))) if len(o) else 0
            for o in orders]
    return sorted(int(i) for o, k in zip(orders, take, strict=True) for i in o[:k])


def points(per_class: list[int], fractions: list[float]) -> list[dict]:
    """The curve's points in increasing size: [{"per_class": k, "fraction": None}, ..., {"fraction": f, ...}]."""
    return ([{"per_class": k, "fraction": None} for k in sorted(set(per_class))]
            + [{"per_class": None, "fraction": f} for f in sorted(set(fractions))])
