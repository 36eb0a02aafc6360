"""Unsupervised baselines: each recovers what it should on tiny seeded data, one shared interface."""
import warnings

import numpy as np
import pandas as pd
import pytest

from deepdrim import baselines
from deepdrim.baselines import BASELINES, clr, genie3, grnboost2, mi, pcc, ppcor, score_all, spearman

FAST = {"genie3": {"n_estimators": 20}, "grnboost2": {"n_estimators": 300}}


def counts(latent, rng, scale=0.8):
    """Poisson counts of exp(1 + scale * latent): non-negative, log-linear in the latent."""
    return rng.poisson(np.exp(1.0 + scale * latent)).astype(float)


@pytest.fixture(scope="module")
def regulated():
    """target (gene 3) = 2 * tf1 (gene 0) + noise; tf2, tf3 (genes 1, 2) irrelevant; 2 more genes."""
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(600, 6))
    latent[:, 3] = 2.0 * latent[:, 0] + 0.3 * rng.normal(size=600)
    return counts(latent, rng, scale=0.5)


@pytest.mark.parametrize("method", sorted(BASELINES))
def test_shape_dtype_and_determinism(method, regulated):
    pairs = np.array([[0, 3], [1, 3], [2, 3], [0, 4], [1, 5]])
    first = score_all(regulated, pairs, method, random_state=7, **FAST.get(method, {}))
    again = score_all(regulated, pairs, method, random_state=7, **FAST.get(method, {}))
    assert first.dtype == np.float64 and first.shape == (5,)
    assert np.isfinite(first).all() and (first >= 0).all()
    np.testing.assert_array_equal(first, again)
    assert score_all(regulated, np.zeros((0, 2), int), method, random_state=7, **FAST.get(method, {})).shape == (0,)


@pytest.mark.parametrize("method", sorted(BASELINES))
def test_gene_name_pairs_and_input_untouched(method, regulated):
    frame = pd.DataFrame(regulated, columns=[f"g{i}" for i in range(6)])
    before = frame.copy()
    by_name = score_all(frame, [("g0", "g3"), ("g1", "g3")], method, random_state=1, **FAST.get(method, {}))
    by_index = score_all(regulated, [[0, 3], [1, 3]], method, random_state=1, **FAST.get(method, {}))
    np.testing.assert_array_equal(by_name, by_index)
    pd.testing.assert_frame_equal(frame, before)


@pytest.mark.parametrize("method", ["pcc", "spearman", "mi"])
def test_perfectly_correlated_pair_ranks_first(method):
    rng = np.random.default_rng(1)
    x = rng.poisson(5.0, size=(300, 5)).astype(float)
    x[:, 4] = x[:, 0]  # a copy of gene 0
    pairs = np.array([[0, 1], [1, 2], [0, 4], [2, 3], [3, 4]])
    scores = score_all(x, pairs, method)
    assert np.argmax(scores) == 2
    if method != "mi":
        assert scores[2] == pytest.approx(1.0)


def test_spearman_is_one_for_a_monotone_nonlinear_copy():
    x = np.random.default_rng(1).poisson(5.0, size=(300, 3)).astype(float)
    x[:, 2] = x[:, 0] ** 3 + 2 * x[:, 0]
    assert spearman(x, [[0, 2]])[0] == pytest.approx(1.0)
    assert pcc(x, [[0, 2]])[0] < 1 - 1e-3


@pytest.mark.parametrize("method", ["pcc", "spearman", "mi", "ppcor", "clr"])
def test_constant_gene_scores_zero_without_warnings(method):
    rng = np.random.default_rng(2)
    x = rng.poisson(4.0, size=(100, 4)).astype(float)
    x[:, 2] = 7.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = score_all(x, [[0, 2], [2, 1], [0, 1]], method)
    assert np.isfinite(scores).all()
    assert scores[0] == pytest.approx(0.0, abs=1e-12) and scores[1] == pytest.approx(0.0, abs=1e-12)


def test_mi_uses_the_image_binning():
    from deepdrim.histograms import bin_codes, histogram_images
    from deepdrim.images import log_expression

    rng = np.random.default_rng(3)
    x = rng.poisson(3.0, size=(200, 3)).astype(float)
    x[:, 1] += x[:, 0]
    hist = histogram_images(bin_codes(log_expression(x), 32), np.array([0]), np.array([1]))[0]
    p = hist / hist.sum()
    outer = np.outer(p.sum(axis=1), p.sum(axis=0))
    nz = p > 0
    expected = float((p[nz] * np.log(p[nz] / outer[nz])).sum())
    assert mi(x, [[0, 1]])[0] == pytest.approx(expected, rel=1e-10)


def test_ppcor_separates_direct_from_transitive():
    rng = np.random.default_rng(4)
    n = 4000
    a = rng.normal(size=n)
    b = a + 0.5 * rng.normal(size=n)
    c = b + 0.5 * rng.normal(size=n)  # chain a -> b -> c: a, c correlated only through b
    x = np.column_stack([a, b, c, rng.normal(size=n)])
    pairs = [[0, 1], [0, 2], [1, 2]]
    partial = ppcor(x, pairs, transform="none")
    marginal = pcc(x, pairs, transform="none")
    assert marginal[1] > 0.7  # a-c strongly correlated ...
    assert partial[1] < 0.05  # ... but not given b
    assert partial[0] > 0.5 and partial[2] > 0.5


def test_ppcor_uses_pseudo_inverse_when_genes_outnumber_cells():
    rng = np.random.default_rng(5)
    x = rng.poisson(3.0, size=(8, 20)).astype(float)
    scores = ppcor(x, [[0, 1], [2, 3]])
    assert np.isfinite(scores).all() and (scores <= 1).all()


def test_clr_and_mi_agree_on_a_simple_case():
    rng = np.random.default_rng(6)
    latent = rng.normal(size=(500, 6))
    latent[:, 1] = latent[:, 0] + 0.2 * rng.normal(size=500)  # strong
    latent[:, 2] = latent[:, 0] + 1.0 * rng.normal(size=500)  # weaker
    x = counts(latent, rng)
    pairs = [[0, 1], [0, 2], [0, 3]]
    by_mi, by_clr = mi(x, pairs), clr(x, pairs)
    assert list(np.argsort(-by_mi)) == list(np.argsort(-by_clr)) == [0, 1, 2]
    assert by_clr[2] < by_clr[0]


@pytest.mark.parametrize("method", ["genie3", "grnboost2"])
def test_tree_methods_rank_the_true_regulator_first(method, regulated):
    pairs = np.array([[0, 3], [1, 3], [2, 3]])
    scores = score_all(regulated, pairs, method, random_state=0, **FAST[method])
    assert np.argmax(scores) == 0


@pytest.mark.parametrize("method", ["genie3", "grnboost2"])
def test_tree_methods_target_scores_independent_of_other_targets_and_jobs(method, regulated):
    pairs = np.array([[0, 3], [1, 3], [2, 3], [0, 4], [1, 4]])
    alone = score_all(regulated, pairs[:3], method, random_state=3, **FAST[method])
    together = score_all(regulated, pairs, method, random_state=3, n_jobs=2, **FAST[method])
    np.testing.assert_allclose(together[:3], alone)


def test_tree_methods_match_arboreto_core(regulated):
    core = pytest.importorskip("arboreto.core")
    values = np.log10(regulated + 0.01).astype(np.float32).astype(np.float64)
    tfs = [0, 1, 2, 4]
    pairs = np.array([[t, 3] for t in tfs])
    x = values[:, tfs]
    gbm = core.fit_model("GBM", core.SGBM_KWARGS, x, values[:, 3], seed=11)
    expected = core.to_feature_importances("GBM", core.SGBM_KWARGS, gbm)
    np.testing.assert_allclose(grnboost2(regulated, pairs, random_state=11), expected)
    rf_kwargs = dict(core.RF_KWARGS, n_estimators=20)
    forest = core.fit_model("RF", rf_kwargs, x, values[:, 3], seed=11)
    np.testing.assert_allclose(genie3(regulated, pairs, random_state=11, n_estimators=20), forest.feature_importances_)


def test_early_stop_monitor_stops_on_negative_mean_oob_improvement():
    class Fake:
        oob_improvement_ = np.array([1.0] * 10 + [-1.0] * 30)

    monitor = baselines.EarlyStopMonitor(window_length=5)
    assert not monitor(3, Fake, None)  # window not full yet
    assert not monitor(10, Fake, None)  # mean of rounds 6..10 > 0
    assert monitor(14, Fake, None)


def test_random_state_forms():
    x = np.abs(np.random.default_rng(8).normal(size=(50, 4))) * 5
    pairs = [[0, 1], [2, 1]]
    seeded = genie3(x, pairs, random_state=np.random.default_rng(0), n_estimators=5)
    assert np.array_equal(seeded, genie3(x, pairs, random_state=np.random.default_rng(0), n_estimators=5))
    with pytest.raises(ValueError, match="random_state"):
        genie3(x, pairs, random_state="seed", n_estimators=5)


def test_unknown_method_lists_known_ones():
    with pytest.raises(ValueError, match="unknown baseline method 'aracne'.*pcc.*grnboost2"):
        score_all(np.ones((5, 3)), [[0, 1]], "aracne")


@pytest.mark.parametrize("method", sorted(BASELINES))
def test_inputs_validated(method):
    x = np.abs(np.random.default_rng(9).normal(size=(20, 3)))
    with pytest.raises(ValueError, match="negative"):
        score_all(-x, [[0, 1]], method)
    with pytest.raises(ValueError, match="out of range"):
        score_all(x, [[0, 5]], method)
    with pytest.raises(ValueError, match="itself"):
        score_all(x, [[1, 1]], method)
