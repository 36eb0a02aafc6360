"""TF-aware folds, training pairs and metrics."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, roc_auc_score

from deepdrim.cv import tf_aware_folds, tf_validation_split
from deepdrim.metrics import per_tf_metrics, summary
from deepdrim.pairs import labelled_pairs


@settings(max_examples=40, deadline=None)
@given(n_tfs=st.integers(3, 15), seed=st.integers(0, 1000), n_folds=st.integers(2, 3))
def test_folds_never_split_a_tf_and_cover_all_pairs(n_tfs, seed, n_folds):
    rng = np.random.default_rng(seed)
    tf = rng.integers(0, n_tfs, size=200)
    tf[:n_tfs] = np.arange(n_tfs)
    pairs = np.column_stack([tf, rng.integers(100, 200, size=200)])
    folds = tf_aware_folds(pairs, n_folds, random_state=seed)
    tests = np.concatenate([test for _, test in folds])
    assert sorted(tests) == list(range(200))  # each pair tested exactly once
    for train, test in folds:
        assert not set(pairs[train, 0]) & set(pairs[test, 0])  # no TF on both sides


def test_folds_are_balanced_by_pair_count():
    pairs = np.column_stack([np.repeat(np.arange(9), 20), np.arange(180) + 100])
    sizes = [len(test) for _, test in tf_aware_folds(pairs, 3, random_state=0)]
    assert sizes == [60, 60, 60]


def test_folds_same_seed_same_split():
    pairs = np.column_stack([np.repeat(np.arange(6), 5), np.arange(30) + 10])
    a = tf_aware_folds(pairs, 3, random_state=4)
    b = tf_aware_folds(pairs, 3, random_state=4)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b))


def test_reference_leak_is_not_repeated():
    """The reference compared string TF ids to int fold ids, so test TFs leaked into training."""
    pairs = np.column_stack([np.repeat(np.arange(6), 4), np.arange(24) + 10])
    for train, test in tf_aware_folds(pairs, 3, random_state=0):
        assert np.intersect1d(np.unique(pairs[train, 0]), np.unique(pairs[test, 0])).size == 0


def test_too_few_tfs():
    with pytest.raises(ValueError, match="at least 2 TFs"):
        tf_aware_folds(np.array([[0, 1], [0, 2]]), 2)


def test_validation_split_by_tf_with_both_classes():
    pairs = np.column_stack([np.repeat(np.arange(10), 4), np.arange(40) + 20])
    labels = np.tile([1, 0, 1, 0], 10)
    train, val = tf_validation_split(pairs, labels, 0.2, random_state=0)
    assert not set(pairs[train, 0]) & set(pairs[val, 0])
    assert set(labels[val]) == {0, 1} and len(np.unique(pairs[val, 0])) == 2


def test_labelled_pairs_balanced_and_all():
    genes = [f"g{i}" for i in range(8)]
    edges = [("g0", "g1"), ("g1", "g2"), ("g0", "g3"), ("g4", "g5"), ("g0", "g0")]
    balanced = labelled_pairs(["g0", "g1", "g4"], genes, edges, random_state=0)
    assert balanced.labels.sum() == 4 and (balanced.labels == 0).sum() == 4  # self-loop dropped
    assert not np.any(balanced.pairs[:, 0] == balanced.pairs[:, 1])
    edge_set = {(0, 1), (1, 2), (0, 3), (4, 5)}
    for (a, b), label in zip(balanced.pairs, balanced.labels):
        assert ((a, b) in edge_set) == bool(label)
    full = labelled_pairs(["g0", "g1", "g4"], genes, edges, negatives="all")
    assert (full.labels == 0).sum() == 3 * 7 - 4
    kinds = dict(zip(map(tuple, full.pairs), full.kind))
    assert kinds[(0, 2)] == "transitive"  # g0 -> g1 -> g2
    assert kinds[(0, 5)] == "random"
    assert kinds[(0, 1)] == "direct"


def test_labelled_pairs_same_seed_same_negatives():
    genes = 30
    edges = [(0, i) for i in range(1, 8)] + [(1, i) for i in range(10, 14)]
    a = labelled_pairs([0, 1], genes, edges, random_state=3)
    b = labelled_pairs([0, 1], genes, edges, random_state=3)
    np.testing.assert_array_equal(a.pairs, b.pairs)


def test_labelled_pairs_unknown_gene():
    with pytest.raises(ValueError, match="not in genes"):
        labelled_pairs(["x"], ["a", "b"], [("x", "a")])


def test_metrics_equal_sklearn():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    scores = rng.random(300) + 0.3 * labels
    tfs = rng.integers(0, 6, 300)
    result = summary(tfs, labels, scores)
    assert result["auroc"] == pytest.approx(roc_auc_score(labels, scores))
    assert result["auprc"] == pytest.approx(average_precision_score(labels, scores))
    per_tf = per_tf_metrics(tfs, labels, scores)
    expected = [roc_auc_score(labels[tfs == t], scores[tfs == t]) for t in range(6)]
    assert per_tf.median_auroc == pytest.approx(np.median(expected))
    assert per_tf.table.auroc.tolist() == pytest.approx(expected)


def test_single_class_tfs_are_skipped_and_counted():
    tfs = np.array([0, 0, 1, 1, 2, 2])
    labels = np.array([1, 0, 1, 1, 0, 1])
    per_tf = per_tf_metrics(tfs, labels, np.array([0.9, 0.1, 0.5, 0.6, 0.2, 0.8]))
    assert per_tf.n_skipped == 1 and list(per_tf.table.tf) == [0, 2]
    assert per_tf.median_auroc == 1.0


def test_early_precision_ratio():
    from deepdrim.metrics import early_precision_ratio

    labels = np.array([1, 1, 0, 0, 0, 0, 0, 0])  # density 1/4
    assert early_precision_ratio(labels, [9, 8, 1, 1, 1, 1, 1, 1]) == pytest.approx(4.0)
    assert early_precision_ratio(labels, [9, 1, 8, 1, 1, 1, 1, 1]) == pytest.approx(2.0)
    # ties at the k-th score are all included: top = {9, 5, 5} holds 1 true edge of 3
    assert early_precision_ratio(labels, [9, 1, 5, 5, 1, 1, 1, 1]) == pytest.approx((1 / 3) / 0.25)
