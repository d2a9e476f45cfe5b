"""Statistics over seeds: means with confidence intervals, the regression tests of `bench check`, rank correlation.

The harness has few seeds per experiment (1-5), so intervals are Student's t-intervals, which hold their coverage
at small n on normal data (a percentile bootstrap at n = 3 is about [min, max] and covers ~77%; see
tests/test_stats.py). One value is a point ("n=1"); values without spread give no interval ("sd 0"), since no
finite sample of equal values bounds the spread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

METHOD = "t-interval"


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float | None  # the confidence interval (None with one value or zero spread)
    high: float | None
    n: int
    method: str = METHOD
    sd: float | None = None

    def text(self, digits: int = 1) -> str:
        if self.n == 1:
            return f"{self.mean:.{digits}f} (n=1)"
        if self.low is None:
            return f"{self.mean:.{digits}f} (n={self.n}, sd 0)"
        return f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def estimate(values: list[float | None], confidence: float = 0.95) -> Estimate | None:
    """Mean and Student's t confidence interval of the mean over the values that are not None."""
    x = np.asarray([v for v in values if v is not None], dtype=float)
    if len(x) == 0:
        return None
    mean = float(x.mean())
    if len(x) == 1:
        return Estimate(mean, None, None, 1)
    sd = float(x.std(ddof=1))
    if sd == 0:
        return Estimate(mean, None, None, len(x), sd=0.0)
    from scipy import stats
    half = float(stats.t.ppf(0.5 + confidence / 2, len(x) - 1)) * sd / math.sqrt(len(x))
    return Estimate(mean, mean - half, mean + half, len(x), sd=sd)


@dataclass(frozen=True)
class Test:
    """A one-sided test of "fresh lower than reference": its name and p-value (None when it cannot run)."""

    name: str
    p: float | None


def lower_than(fresh: list[float], reference: list[float], pairs: list[tuple[float, float]] | None = None) -> Test:
    """Paired t-test on (fresh, reference) pairs of the same seed when there are at least 2, else Welch's t-test
    when both sides have 2+ values; zero spread gives p = 0 (a certain drop) or 1 (no drop), never nan."""
    from scipy import stats
    if pairs is not None and len(pairs) >= 2:
        d = np.array([f - r for f, r in pairs])
        if np.ptp(d) == 0:
            return Test(f"paired t-test on {len(d)} seeds", 0.0 if d[0] < 0 else 1.0)
        return Test(f"paired t-test on {len(d)} seeds",
                    float(stats.ttest_rel([f for f, _ in pairs], [r for _, r in pairs], alternative="less").pvalue))
    if len(fresh) >= 2 and len(reference) >= 2:
        f, r = np.asarray(fresh, float), np.asarray(reference, float)
        if np.ptp(f) == 0 and np.ptp(r) == 0:
            return Test("Welch t-test", 0.0 if f[0] < r[0] else 1.0)
        return Test("Welch t-test", float(stats.ttest_ind(f, r, equal_var=False, alternative="less").pvalue))
    return Test("no test (1 value on a side)", None)


def spearman(a: list[float], b: list[float]) -> tuple[float | None, float | None]:
    """Spearman's rank correlation and its p-value (None for fewer than 3 pairs or constant inputs)."""
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None, None
    from scipy import stats
    res = stats.spearmanr(a, b)
    return float(res.statistic), float(res.pvalue)
