"""deepdrim.evaluation: cross-validating any scorer on plain arrays, with the controls, fold reports
and per-fold metrics; link probabilities from predict_proba."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator, ClassifierMixin

from deepdrim.baselines import target_mean_scores
from deepdrim.evaluation import CrossValidation, FoldReport, cross_validate, link_probabilities


def _data(n_tfs=8, n_targets=30, n_cells=60, seed=0):
    """Random counts and every TF x target pair of the first ``n_tfs`` genes, ~1/3 labelled 1."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(3.0, size=(n_cells, n_tfs + n_targets)).astype(np.float64)
    tf, target = np.meshgrid(np.arange(n_tfs), np.arange(n_tfs, n_tfs + n_targets), indexing="ij")
    pairs = np.column_stack([tf.ravel(), target.ravel()])
    labels = (rng.random(len(pairs)) < 0.33).astype(int)
    return counts, pairs, labels


class TargetScorer(ClassifierMixin, BaseEstimator):
    """A fittable stand-in: scores a pair by its target's positive rate in the training pairs."""

    def __init__(self, epochs=2):
        self.epochs = epochs

    def fit(self, expression, pairs, labels, epoch_callback=None):
        self.rate_ = {int(t): labels[pairs[:, 1] == t].mean() for t in np.unique(pairs[:, 1])}
        self.n_fit_ = len(pairs)
        for epoch in range(self.epochs):
            if epoch_callback is not None:
                epoch_callback(epoch, {"loss": 0.5})
        return self

    def predict_proba(self, pairs):
        p = np.array([self.rate_.get(int(t), 0.0) for t in np.asarray(pairs)[:, 1]])
        return np.column_stack([1 - p, p])


class Constant(TargetScorer):
    def predict_proba(self, pairs):
        return np.full((len(pairs), 2), 0.5)


def test_link_probabilities_takes_column_one_of_two():
    np.testing.assert_array_equal(link_probabilities(np.array([[0.8, 0.2], [0.1, 0.9]])), [0.2, 0.9])
    np.testing.assert_array_equal(link_probabilities([0.3, 0.7]), [0.3, 0.7])
    with pytest.raises(ValueError, match="expected"):
        link_probabilities(np.zeros((2, 3)))


def test_baseline_by_name_scores_every_pair_out_of_fold_with_the_controls():
    counts, pairs, labels = _data()
    result = cross_validate("pcc", counts, pairs, labels, n_folds=3, random_state=0, progress=False)
    frame = result.predictions
    assert isinstance(result, CrossValidation) and len(frame) == len(pairs)
    assert sorted(frame.fold.unique()) == [0, 1, 2]  # tf split: every pair tested once
    for column in ("score", "pcc", "prior", "target_mean"):
        assert frame[column].notna().all(), column
    np.testing.assert_allclose(frame.score, frame.pcc)  # the baseline is Pearson itself
    np.testing.assert_allclose(frame.target_mean, target_mean_scores(counts, pairs))
    for k, fold in enumerate(result.folds):  # TF-aware: no TF on both sides of a fold
        assert isinstance(fold, FoldReport) and fold.failure is None
        test_tfs = set(pairs[frame.fold.to_numpy() == k, 0])
        assert fold.n_test_pairs == (frame.fold == k).sum()
        assert fold.n_train_tfs == len(set(pairs[:, 0]) - test_tfs)
    assert 0.0 <= result.metrics()["auroc"] <= 1.0 and "fold0/auroc" in result.metrics("prior")


def test_an_estimator_is_cloned_per_fold_and_trained_on_the_cut_training_pairs():
    counts, pairs, labels = _data()
    prototype = TargetScorer(epochs=3)
    epochs_seen = []
    result = cross_validate(prototype, counts, pairs, labels, n_folds=2, random_state=1,
                            train_subset=lambda train, k: train[: len(train) // 2],
                            on_epoch=lambda fold, epoch, logs: epochs_seen.append((fold, epoch)), progress=False)
    assert not hasattr(prototype, "rate_")  # the prototype itself is never fitted
    assert epochs_seen == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    for fold in result.folds:
        assert fold.n_train_pairs == (len(pairs) - fold.n_test_pairs) // 2
    # the scorer learns the target's rate, so its scores equal the prior control of the (cut) fold
    np.testing.assert_allclose(result.predictions.score, result.predictions.prior)


def test_on_fold_gets_each_fits_history_and_score_false_leaves_the_test_pairs_unscored():
    """A search's inner loop: per-fold history and best epoch, no test pair scored, a hook's error ends it."""
    class Tracked(Constant):
        def fit(self, expression, pairs, labels, epoch_callback=None):
            self.history_, self.best_epoch_ = {"loss": [0.6, 0.5]}, 1
            return super().fit(expression, pairs, labels, epoch_callback)

        def predict_proba(self, pairs):
            raise AssertionError("scored a test pair")

    counts, pairs, labels = _data()
    seen = []
    result = cross_validate(Tracked(), counts, pairs, labels, n_folds=2, score=False, progress=False,
                            on_fold=lambda k, fold: seen.append((k, fold.best_epoch, fold.history["loss"])))
    assert seen == [(0, 1, [0.6, 0.5]), (1, 1, [0.6, 0.5])] and result.predictions.score.isna().all()
    assert all(fold.failure is None for fold in result.folds)  # constant scores are not checked unscored

    def stop(k, epoch, logs):
        raise KeyError("pruned")
    with pytest.raises(KeyError, match="pruned"):
        cross_validate(Tracked(), counts, pairs, labels, n_folds=2, score=False, progress=False, on_epoch=stop)


def test_constant_scores_are_reported_as_a_failure_to_learn():
    counts, pairs, labels = _data()
    result = cross_validate(Constant(), counts, pairs, labels, n_folds=2, progress=False)
    assert all(fold.failure and fold.failure.startswith("constant scores") for fold in result.folds)
    assert result.failure_summary() == "folds 0, 1 of 2: constant scores on the fold's {} test pairs".format(
        result.folds[0].n_test_pairs) + ("" if result.folds[0].n_test_pairs == result.folds[1].n_test_pairs else
                                         "; constant scores on the fold's {} test pairs".format(result.folds[1].n_test_pairs))


def test_strict_split_leaves_untested_pairs_unscored():
    counts, pairs, labels = _data(n_tfs=9, n_targets=60)
    rng = np.random.default_rng(3)
    tfs = np.arange(9)
    keep = np.zeros(len(pairs), dtype=bool)
    for target in range(9, 69):  # each target paired with the TFs of one random block and one stray TF
        block = tfs[3 * (target % 3): 3 * (target % 3) + 3]
        chosen = np.append(block, rng.integers(9))
        keep |= (pairs[:, 1] == target) & np.isin(pairs[:, 0], chosen)
    pairs, labels = pairs[keep], labels[keep]
    result = cross_validate(TargetScorer(), counts, pairs, labels, n_folds=3, split="strict", progress=False)
    untested = result.predictions.fold < 0  # a TF in one fold, its target in another: dropped
    assert untested.any()
    assert result.predictions.loc[untested, ["score", "pcc", "prior", "target_mean"]].isna().all().all()
    assert result.tested().score.notna().all()


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_same_seed_same_numbers(seed):
    counts, pairs, labels = _data(seed=seed % 7)
    first = cross_validate(TargetScorer(), counts, pairs, labels, random_state=seed, progress=False)
    again = cross_validate(TargetScorer(), counts, pairs, labels, random_state=seed, progress=False)
    assert first.predictions.equals(again.predictions)


@pytest.mark.parametrize("scorer, message", [("no_such_method", "unknown baseline"),
                                             (42, "scorer must be an estimator")])
def test_bad_scorer_is_a_one_line_error(scorer, message):
    counts, pairs, labels = _data()
    with pytest.raises(ValueError, match=message):
        cross_validate(scorer, counts, pairs, labels, progress=False)


def test_pairs_and_labels_must_agree():
    counts, pairs, labels = _data()
    with pytest.raises(ValueError, match="one label each"):
        cross_validate("pcc", counts, pairs, labels[:-1], progress=False)
