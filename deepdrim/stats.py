"""Study statistics: a mean with its 95% t-interval, paired differences, the Wilcoxon signed-rank
test and the verdict rule that turns an interval into supported / contradicted / inconclusive.

Every study, comparison and benchmark of the suite reports its effects with these, so a number
in a table and the verdict beside it are computed one way.
"""
from __future__ import annotations

import warnings
from typing import Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd
from scipy import stats

#: the verdicts :func:`decide` gives
VERDICTS = ("supported", "contradicted", "inconclusive")


class MeanCI(NamedTuple):
    """A mean with its 95% t-interval over ``n`` finite values."""

    mean: float
    low: float
    high: float
    n: int


class PairedDifference(NamedTuple):
    """``a - b`` over the pairs both scored: mean, 95% t-interval, pairs and Wilcoxon p."""

    mean: float
    low: float
    high: float
    n: int
    p: float


def mean_ci(values) -> MeanCI:
    """(mean, low, high, n) of the finite ``values`` with a 95% t-interval: the interval of one
    value is that value (zero width), of none NaN."""
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return MeanCI(float("nan"), float("nan"), float("nan"), 0)
    mean = float(x.mean())
    if n < 2:
        return MeanCI(mean, mean, mean, 1)
    half = float(stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / np.sqrt(n))
    return MeanCI(mean, mean - half, mean + half, n)


def mean_ci_table(values: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """One row per named metric: :func:`mean_ci` of its values over the replicates (seeds), as
    ``metric``, ``mean``, ``ci_low``, ``ci_high``, ``n_seeds``: a seeds-only study's table."""
    rows = [(name, *mean_ci(x)) for name, x in values.items()]
    return pd.DataFrame(rows, columns=["metric", "mean", "ci_low", "ci_high", "n_seeds"])


def grouped_mean_ci(frame: pd.DataFrame, by: Sequence[str], columns: Sequence[str]) -> pd.DataFrame:
    """One row per group of ``by`` (sorted, NaN keys kept): ``n_seeds`` (its rows, the replicates) and
    per column its :func:`mean_ci` as ``<column>_mean``, ``<column>_ci_low``, ``<column>_ci_high``."""
    rows = []
    for keys, group in frame.groupby(list(by), dropna=False, sort=True):
        row = {**dict(zip(by, keys)), "n_seeds": len(group)}
        for column in columns:
            mean, low, high, _ = mean_ci(group[column])
            row.update({f"{column}_mean": mean, f"{column}_ci_low": low, f"{column}_ci_high": high})
        rows.append(row)
    return pd.DataFrame(rows, columns=[*by, "n_seeds", *[f"{c}_{s}" for c in columns
                                                         for s in ("mean", "ci_low", "ci_high")]])


def wilcoxon_p(a, b) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired samples ``a`` vs ``b`` (scipy's defaults);
    1.0 when every difference is zero, NaN when there is no pair."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired samples must have the same shape, got {a.shape} and {b.shape}")
    if len(a) == 0:
        return float("nan")
    if not np.any(a - b):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.wilcoxon(a, b).pvalue)


def paired_difference(a, b) -> PairedDifference:
    """``a - b`` over the positions where both are finite: :func:`mean_ci` of the differences and
    the Wilcoxon p of the same pairs (NaN with no pair)."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired samples must have the same length, got {len(a)} and {len(b)}")
    both = np.isfinite(a) & np.isfinite(b)
    mean, low, high, n = mean_ci(a[both] - b[both])
    return PairedDifference(mean, low, high, n, wilcoxon_p(a[both], b[both]) if n else float("nan"))


def decide(low: float, high: float, n: int, side: str, threshold: float) -> str:
    """"supported" when the CI [low, high] is wholly on ``side`` ("above"/"below") of ``threshold``,
    "contradicted" when wholly on the other side, else (or with fewer than 2 values) "inconclusive"."""
    if side not in ("above", "below"):
        raise ValueError(f"side must be 'above' or 'below', got {side!r}")
    if n < 2 or not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive"
    if side == "above":
        return "supported" if low > threshold else "contradicted" if high < threshold else "inconclusive"
    return "supported" if high < threshold else "contradicted" if low > threshold else "inconclusive"
