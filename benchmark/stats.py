"""Statistics over seeds: means with bootstrap confidence intervals, paired regression tests, rank correlation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float | None  # 95% CI (None with one value)
    high: float | None
    n: int
    method: str = "percentile bootstrap"

    def text(self, digits: int = 1) -> str:
        if self.low is None:
            return f"{self.mean:.{digits}f} (n={self.n})"
        return f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def estimate(values: list[float], confidence: float = 0.95) -> Estimate | None:
    """Mean and a percentile-bootstrap CI of the mean (scipy.stats.bootstrap, 10,000 resamples, fixed seed so a
    table is the same every time it is printed)."""
    x = np.asarray([v for v in values if v is not None], dtype=float)
    if len(x) == 0:
        return None
    mean = float(x.mean())
    if len(x) == 1:
        return Estimate(mean, None, None, 1)
    if np.ptp(x) == 0:
        return Estimate(mean, mean, mean, len(x))
    from scipy import stats
    res = stats.bootstrap((x,), np.mean, confidence_level=confidence, n_resamples=10_000, method="percentile",
                          random_state=0)
    return Estimate(mean, float(res.confidence_interval.low), float(res.confidence_interval.high), len(x))


def lower_than(fresh: list[float], reference: list[float]) -> float:
    """One-sided p-value that the fresh runs score lower than the reference runs (Welch's t-test)."""
    from scipy import stats
    return float(stats.ttest_ind(fresh, reference, equal_var=False, alternative="less").pvalue)


def spearman(a: list[float], b: list[float]) -> tuple[float | None, float | None]:
    """Spearman's rank correlation and its p-value (None for fewer than 3 pairs or constant inputs)."""
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None, None
    from scipy import stats
    res = stats.spearmanr(a, b)
    return float(res.statistic), float(res.pvalue)
