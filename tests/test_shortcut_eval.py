"""Shortcut-aware evaluation: gene-prior baseline, strict folds, FPs at matched sensitivity,
bootstrap-over-TFs AUROC CI; tiny inputs with hand-computed answers."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from deepdrim.baselines import gene_prior_cv, gene_prior_scores
from deepdrim.cv import Fold, make_folds, strict_folds, tf_aware_folds
from deepdrim.metrics import (bootstrap_auroc_ci, false_positives_at_sensitivity, false_positives_at_threshold,
                              fp_reduction_at_sensitivity, relative_reduction, sensitivity_threshold)

# ---------------------------------------------------------------------------------------------- gene prior

TRAIN = np.array([[0, 5], [1, 5], [2, 5], [0, 6], [1, 6], [2, 7]])
TRAIN_Y = np.array([1, 1, 0, 0, 0, 1])  # target 5: 2/3 positive, 6: 0/2, 7: 1/1; overall 1/2


def test_gene_prior_by_target_is_the_targets_training_rate():
    test = np.array([[3, 5], [3, 6], [3, 7], [3, 8]])  # target 8 unseen -> overall rate 1/2
    np.testing.assert_allclose(gene_prior_scores(TRAIN, TRAIN_Y, test), [2 / 3, 0.0, 1.0, 0.5])


def test_gene_prior_by_tf_and_smoothing():
    test = np.array([[0, 9], [2, 9], [4, 9]])  # TF 0: 1/2, TF 2: 1/2, TF 4 unseen
    np.testing.assert_allclose(gene_prior_scores(TRAIN, TRAIN_Y, test, by="tf"), [0.5, 0.5, 0.5])
    # smoothing 2 toward 1/2: target 6 -> (0 + 2 * 0.5) / (2 + 2) = 0.25
    assert gene_prior_scores(TRAIN, TRAIN_Y, np.array([[3, 6]]), smoothing=2.0)[0] == pytest.approx(0.25)


def test_gene_prior_uses_training_labels_only():
    test = np.array([[3, 5], [3, 6]])
    first = gene_prior_scores(TRAIN, TRAIN_Y, test)
    assert first.dtype == np.float64 and first.shape == (2,)
    # the test pairs' labels are not an input: nothing else can change the scores
    np.testing.assert_array_equal(first, gene_prior_scores(TRAIN.copy(), TRAIN_Y.copy(), test))


def test_gene_prior_cv_fits_each_fold_on_its_training_pairs():
    pairs = np.array([[0, 5], [1, 5], [2, 5], [2, 6]])
    labels = np.array([1, 1, 0, 1])
    folds = [(np.array([0, 1]), np.array([2])), (np.array([2]), np.array([3]))]  # pair 0, 1 untested
    out = gene_prior_cv(pairs, labels, folds)
    assert np.isnan(out[:2]).all()
    assert out[2] == 1.0  # target 5 was positive in both training pairs of fold 0
    assert out[3] == 0.0  # target 6 unseen in fold 1's training -> its overall rate, 0/1


@pytest.mark.parametrize("kwargs, message", [({"by": "gene"}, "by must be"), ({"smoothing": -1.0}, "smoothing"),
                                             ({"train_labels": np.array([0, 1])}, "train_labels must have shape"),
                                             ({"train_labels": np.full(6, 2)}, "0/1")])
def test_gene_prior_errors(kwargs, message):
    args = {"train_labels": TRAIN_Y, **kwargs}
    labels = args.pop("train_labels")
    with pytest.raises(ValueError, match=message):
        gene_prior_scores(TRAIN, labels, np.array([[3, 5]]), **args)


# ---------------------------------------------------------------------------------------------- strict folds


def random_pairs(seed: int, n_tfs: int, n_genes: int, n_pairs: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    tf = rng.integers(0, n_tfs, n_pairs)
    tf[:n_tfs] = np.arange(n_tfs)
    target = rng.integers(0, n_genes, n_pairs)  # targets may be TFs too (cascades)
    target = np.where(target == tf, (target + 1) % n_genes, target)
    return np.unique(np.column_stack([tf, target]), axis=0)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n_tfs=st.integers(6, 15), n_folds=st.integers(2, 3))
def test_strict_folds_share_no_gene_between_train_and_test(seed, n_tfs, n_folds):
    pairs = random_pairs(seed, n_tfs, 60, 300)
    try:
        folds = strict_folds(pairs, n_folds, random_state=seed)
    except ValueError as error:  # allowed only with the documented message
        assert "strict split impossible" in str(error)
        return
    tested = np.concatenate([f.test for f in folds])
    assert len(np.unique(tested)) == len(tested)  # each pair tested at most once
    for fold in folds:
        assert isinstance(fold, Fold)
        genes_train, genes_test = set(pairs[fold.train].ravel()), set(pairs[fold.test].ravel())
        assert not genes_train & genes_test  # no TF and no target on both sides, in any role
        assert len(fold.train) + len(fold.test) + fold.n_dropped == len(pairs)
        assert not np.intersect1d(fold.train, fold.test).size


def test_strict_folds_deterministic_by_seed_and_balanced():
    pairs = random_pairs(1, 12, 80, 400)
    a, b = strict_folds(pairs, 3, random_state=5), strict_folds(pairs, 3, random_state=5)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.train, y.train)
        np.testing.assert_array_equal(x.test, y.test)
    sizes = [len(f.test) for f in a]
    assert max(sizes) <= 2 * min(sizes)


def test_strict_folds_hand_example():
    # TF 0 -> {2, 3}, TF 1 -> {4, 5}: two disjoint blocks, so nothing is dropped
    pairs = np.array([[0, 2], [0, 3], [1, 4], [1, 5]])
    folds = strict_folds(pairs, 2, random_state=0)
    assert sorted(sorted(f.test.tolist()) for f in folds) == [[0, 1], [2, 3]]
    assert all(f.n_dropped == 0 for f in folds)
    # a shared target (gene 2 under both TFs) must leave one of its pairs untested and untrained
    shared = np.array([[0, 2], [0, 3], [1, 2], [1, 5]])
    folds = strict_folds(shared, 2, random_state=0)
    assert sum(len(f.test) for f in folds) == 3 and all(f.n_dropped == 1 for f in folds)


def test_strict_folds_impossible():
    # every pair shares gene 9: one fold can never train
    pairs = np.array([[0, 9], [1, 9], [2, 9]])
    with pytest.raises(ValueError, match="strict split impossible"):
        strict_folds(pairs, 2, random_state=0)
    with pytest.raises(ValueError, match="at least 3 TFs"):
        strict_folds(np.array([[0, 5], [1, 6]]), 3)


def test_make_folds_tf_matches_tf_aware_folds():
    pairs = random_pairs(2, 9, 40, 120)
    plain = tf_aware_folds(pairs, 3, random_state=3)
    for fold, (train, test) in zip(make_folds(pairs, 3, "tf", random_state=3), plain):
        np.testing.assert_array_equal(fold.train, train)
        np.testing.assert_array_equal(fold.test, test)
        assert fold.n_dropped == 0
    with pytest.raises(ValueError, match="split must be one of"):
        make_folds(pairs, 3, "random")


# ---------------------------------------------------------------------------------------------- matched sensitivity

LABELS = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
KIND = np.array(["direct"] * 5 + ["transitive", "transitive", "transitive", "random", "random", "random"])
# reference: positives 0.9 0.8 0.7 0.6 0.1; negatives t: 0.85 0.75 0.65, r: 0.95 0.2 0.05
REFERENCE = np.array([0.9, 0.8, 0.7, 0.6, 0.1, 0.85, 0.75, 0.65, 0.95, 0.2, 0.05])
# arm: same positives scaled down (different calibration), transitive negatives pushed low
ARM = np.array([0.45, 0.4, 0.35, 0.3, 0.05, 0.1, 0.32, 0.02, 0.5, 0.1, 0.01])


def test_sensitivity_threshold_and_fps():
    # 80% of 5 positives = 4: threshold at the 4th highest positive, 0.6
    assert sensitivity_threshold(LABELS, REFERENCE, 0.8) == 0.6
    ref = false_positives_at_sensitivity(LABELS, REFERENCE, KIND, 0.8)
    assert ref["tpr"] == 0.8 and ref["fp"] == 4 and ref["fp_transitive"] == 3 and ref["fp_random"] == 1
    arm = false_positives_at_sensitivity(LABELS, ARM, KIND, 0.8)
    assert arm["threshold"] == 0.3 and arm["fp"] == 2 and arm["fp_transitive"] == 1 and arm["fp_random"] == 1
    assert arm["fpr"] == pytest.approx(2 / 6)


def test_fp_reduction_at_matched_sensitivity():
    out = fp_reduction_at_sensitivity(LABELS, REFERENCE, ARM, KIND, 0.8)
    assert out["fp_reduction"] == pytest.approx(0.5)  # 4 -> 2
    assert out["fp_reduction_transitive"] == pytest.approx(2 / 3)  # 3 -> 1
    assert out["fp_reduction_random"] == pytest.approx(0.0)
    # at a fixed 0.5 cut the arm would look perfect only because it is calibrated lower
    at_half = false_positives_at_threshold(LABELS, ARM, 0.5, KIND)
    assert (at_half["fp"], at_half["fp_random"], at_half["fp_transitive"], at_half["tp"]) == (1, 1, 0, 0)
    assert relative_reduction(4, 1) == 0.75 and np.isnan(relative_reduction(0, 1))


def test_matched_sensitivity_ties_are_called_and_errors():
    out = false_positives_at_sensitivity([1, 1, 0, 0], [0.5, 0.5, 0.5, 0.1], sensitivity=0.5)
    assert out["threshold"] == 0.5 and out["tpr"] == 1.0 and out["fp"] == 1
    with pytest.raises(ValueError, match="sensitivity must be"):
        sensitivity_threshold(LABELS, REFERENCE, 0.0)
    with pytest.raises(ValueError, match="no positive"):
        sensitivity_threshold([0, 0], [0.1, 0.2])


# ---------------------------------------------------------------------------------------------- bootstrap CI


def test_bootstrap_auroc_ci_seeded_and_covers_the_estimate():
    rng = np.random.default_rng(0)
    tfs = np.repeat(np.arange(12), 20)
    labels = np.tile([1, 0], 120)
    scores = rng.normal(size=240) + 0.8 * labels
    a = bootstrap_auroc_ci(tfs, labels, scores, n_resamples=300, random_state=1)
    b = bootstrap_auroc_ci(tfs, labels, scores, n_resamples=300, random_state=1)
    assert a == b
    assert a.estimate == pytest.approx(roc_auc_score(labels, scores))
    assert a.low < a.estimate < a.high and a.n_resamples == 300
    # TFs that disagree (half separate the classes, half reverse them) make the TF-level CI wide
    sign = np.where(tfs < 6, 1.0, -1.0)
    mixed = bootstrap_auroc_ci(tfs, labels, rng.normal(size=240) + 3.0 * sign * labels, n_resamples=300,
                               random_state=1)
    assert mixed.high - mixed.low > 2 * (a.high - a.low)


def test_bootstrap_weighted_auroc_equals_sklearn_with_weights():
    from deepdrim.metrics import _weighted_auroc

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 80).astype(bool)
    scores = np.round(rng.random(80) + 0.3 * labels, 1)  # many ties
    weights = rng.integers(0, 3, size=(3, 80)).astype(float)
    expected = [roc_auc_score(labels, scores, sample_weight=w) for w in weights]
    np.testing.assert_allclose(_weighted_auroc(labels, scores, weights), expected)


def test_bootstrap_one_tf_gives_a_point_interval_and_errors():
    ci = bootstrap_auroc_ci([0, 0, 0, 0], [1, 0, 1, 0], [0.9, 0.1, 0.8, 0.2], n_resamples=20, random_state=0)
    assert ci.low == ci.high == ci.estimate == 1.0
    with pytest.raises(ValueError, match="one class"):
        bootstrap_auroc_ci([0, 1], [1, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_auroc_ci([0, 1], [1, 0], [0.2, 0.3], n_resamples=0)
