"""Class-balanced, nested training subsets for low-data finetuning curves.

For a subset seed, every class's training videos are put in one random order (a generator seeded by (subset
seed, class)); a point takes a prefix of every class's order: `per_class` k takes min(k, n_c) videos of class c,
a fraction f takes max(1, round-half-up(f n_c)) in exact arithmetic (f read as the decimal it is written as, so
0.1 x 25 is 2.5 -> 3 and 0.1 x 35 is 3.5 -> 4). Prefixes of one order are nested, so for one subset seed every
smaller point's subset lies inside every larger one's. (A per-class point and a fraction point need not be nested
- one can take more of some classes and fewer of others - so a curve uses one kind; the config refuses both.)
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np


def class_orders(labels: list[int], num_classes: int, subset_seed: int) -> list[np.ndarray]:
    labels_arr = np.asarray(labels)
    return [np.random.default_rng([subset_seed, c]).permutation(np.flatnonzero(labels_arr == c))
            for c in range(num_classes)]


def fraction_count(fraction: float, n: int) -> int:
    """max(1, round half up of fraction x n), exactly: the fraction as the decimal it is written as."""
    if n == 0:
        return 0
    exact = Fraction(repr(fraction)) * n
    return max(1, math.floor(exact + Fraction(1, 2)))


def subset(orders: list[np.ndarray], per_class: int | None = None, fraction: float | None = None) -> list[int]:
    take = [min(per_class, len(o)) if per_class is not None else fraction_count(fraction, len(o)) for o in orders]
    return sorted(int(i) for o, k in zip(orders, take, strict=True) for i in o[:k])


def points(per_class: list[int], fractions: list[float]) -> list[dict]:
    """The curve's points in increasing size: [{"per_class": k, "fraction": None}, ..., {"fraction": f, ...}]."""
    return ([{"per_class": k, "fraction": None} for k in sorted(set(per_class))]
            + [{"per_class": None, "fraction": f} for f in sorted(set(fractions))])
