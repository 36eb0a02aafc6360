"""Study statistics (deepdrim.stats): the t-interval, paired differences, Wilcoxon and the verdict rule."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from deepdrim.stats import decide, grouped_mean_ci, mean_ci, mean_ci_table, paired_difference, wilcoxon_p

AUROC_A = [0.91, 0.85, 0.77, 0.95, 0.62, 0.88, 0.71, 0.80]
AUROC_B = [0.60, 0.66, 0.79, 0.70, 0.55, 0.64, 0.52, 0.83]
finite = st.floats(-10, 10, allow_nan=False)


def test_mean_ci_is_the_t_interval_of_the_finite_values():
    mean, low, high, n = mean_ci([0.7, 0.8, 0.9, float("nan")])
    half = scipy_stats.t.ppf(0.975, 2) * np.std([0.7, 0.8, 0.9], ddof=1) / np.sqrt(3)
    assert (mean, n) == (pytest.approx(0.8), 3)
    assert (low, high) == (pytest.approx(0.8 - half), pytest.approx(0.8 + half))


def test_mean_ci_of_one_value_is_that_value_and_of_none_nan():
    assert mean_ci([0.5, float("nan")]) == (0.5, 0.5, 0.5, 1)
    mean, low, high, n = mean_ci([])
    assert n == 0 and np.isnan([mean, low, high]).all()


def test_tables_of_mean_ci_per_metric_and_per_group():
    table = mean_ci_table({"a": [0.7, 0.8, 0.9], "b": [0.5, float("nan")]})
    assert list(table.columns) == ["metric", "mean", "ci_low", "ci_high", "n_seeds"]
    assert tuple(table.iloc[0, 1:]) == pytest.approx(tuple(mean_ci([0.7, 0.8, 0.9])))
    assert tuple(table.iloc[1, 1:]) == (0.5, 0.5, 0.5, 1)
    frame = pd.DataFrame({"line": [np.nan] * 4, "x": [2, 1, 1, 2], "auroc": [0.6, 0.7, 0.9, 0.8]})
    grouped = grouped_mean_ci(frame, ["line", "x"], ["auroc"])  # NaN keys kept, groups sorted
    assert list(grouped.columns) == ["line", "x", "n_seeds", "auroc_mean", "auroc_ci_low", "auroc_ci_high"]
    assert grouped.x.tolist() == [1, 2] and grouped.n_seeds.tolist() == [2, 2]
    assert grouped.auroc_mean.tolist() == pytest.approx([0.8, 0.7])


@settings(max_examples=60, deadline=None)
@given(st.lists(finite, min_size=2, max_size=30))
def test_mean_ci_holds_its_mean(values):
    mean, low, high, n = mean_ci(values)
    assert n == len(values)
    assert low - 1e-9 <= mean <= high + 1e-9


def test_wilcoxon_p_is_scipys_and_handles_degenerate_cases():
    assert wilcoxon_p(AUROC_A, AUROC_B) == pytest.approx(scipy_stats.wilcoxon(AUROC_A, AUROC_B).pvalue, rel=1e-12)
    assert wilcoxon_p(AUROC_A, AUROC_A) == 1.0  # no difference at all
    assert np.isnan(wilcoxon_p([], []))
    with pytest.raises(ValueError, match="same shape"):
        wilcoxon_p([0.1, 0.2], [0.1])


def test_paired_difference_pairs_only_positions_both_scored():
    a = np.array(AUROC_A + [np.nan, 0.9])
    b = np.array(AUROC_B + [0.5, np.nan])
    found = paired_difference(a, b)
    expected = mean_ci(np.subtract(AUROC_A, AUROC_B))
    assert found.n == 8
    assert (found.mean, found.low, found.high) == pytest.approx(expected[:3])
    assert found.p == pytest.approx(wilcoxon_p(AUROC_A, AUROC_B))
    assert np.isnan(paired_difference([np.nan], [0.5]).p)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(finite, finite), min_size=2, max_size=30))
def test_paired_difference_is_antisymmetric(pairs):
    a, b = np.array(pairs).T
    ab, ba = paired_difference(a, b), paired_difference(b, a)
    assert ab.mean == pytest.approx(-ba.mean, abs=1e-9)
    assert (ab.low, ab.high) == pytest.approx((-ba.high, -ba.low), abs=1e-9)
    assert ab.p == pytest.approx(ba.p, nan_ok=True)


@pytest.mark.parametrize("low, high, n, side, verdict", [
    (0.01, 0.05, 3, "above", "supported"), (-0.05, -0.01, 3, "above", "contradicted"),
    (-0.01, 0.05, 3, "above", "inconclusive"), (0.01, 0.05, 1, "above", "inconclusive"),
    (-0.05, -0.01, 3, "below", "supported"), (0.01, 0.05, 3, "below", "contradicted"),
    (np.nan, np.nan, 3, "above", "inconclusive"),
])
def test_decide_reads_the_whole_interval(low, high, n, side, verdict):
    assert decide(low, high, n, side, 0.0) == verdict


def test_decide_refuses_an_unknown_side():
    with pytest.raises(ValueError, match="side must be"):
        decide(0.1, 0.2, 3, "sideways", 0.0)
