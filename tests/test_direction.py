"""Direction (deepdrim.direction, task=direction): the three-class pairs, folds that keep both
orientations of a pair together, the two-head classifier, its metrics and the job."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator

from deepdrim import DeepDRIM
from deepdrim.direction import (SWAPPED, DirectionClassifier, cross_validate_direction, directed_pairs,
                                direction_folds, direction_metrics, pairwise_direction_accuracy,
                                regulator_prior_scores, three_class_proba)
from tests.conftest import TINY_MODEL


class GeneValueRule(BaseEstimator):
    """A binary pair scorer with no learning: P = sigmoid(v[a] - v[b]) (``symmetric``: of |v[a] - v[b]|);
    every fit (of any clone) is counted in the class's ``fits``."""

    fits: list = []

    def __init__(self, values=None, symmetric=False):
        self.values = values
        self.symmetric = symmetric

    def fit(self, expression, pairs, labels, **kwargs):
        GeneValueRule.fits.append(len(pairs))
        return self

    def predict_proba(self, pairs, expression=None):
        v = np.asarray(self.values, dtype=float)
        d = v[pairs[:, 0]] - v[pairs[:, 1]]
        p = 1 / (1 + np.exp(-(np.abs(d) if self.symmetric else d)))
        return np.column_stack([1 - p, p])


graphs = st.integers(4, 12).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n)))


@settings(max_examples=60, deadline=None)
@given(graphs, st.integers(0, 3))
def test_directed_pairs_are_both_orientations_with_swapped_classes(graph, seed):
    n, edges = graph
    tfs = list(range(n - 2))  # the last two genes are not TFs: their edges are ignored
    result = directed_pairs(tfs, n, edges, random_state=seed)
    pairs, classes = result.pairs, result.classes
    np.testing.assert_array_equal(pairs[1::2], pairs[0::2, ::-1])
    np.testing.assert_array_equal(classes[1::2], SWAPPED[classes[0::2]])
    assert np.isin(pairs, tfs).all() and (pairs[:, 0] != pairs[:, 1]).all()
    edge_set = {(a, b) for a, b in edges if a != b}
    for (a, b), c in zip(pairs, classes):
        assert c == (1 if (a, b) in edge_set else 2 if (b, a) in edge_set else 0)
        assert not ((a, b) in edge_set and (b, a) in edge_set)  # mutual pairs are left out
    assert (classes == 1).sum() == (classes == 2).sum()
    assert (classes == 0).sum() <= (classes > 0).sum()
    again = directed_pairs(tfs, n, edges, random_state=seed)
    np.testing.assert_array_equal(again.pairs, pairs)


def test_directed_pairs_counts_mutual_and_names_genes():
    genes = ["a", "b", "c", "d", "x"]
    result = directed_pairs(["a", "b", "c", "d"], genes, [("a", "b"), ("b", "a"), ("a", "c"), ("d", "x")],
                            random_state=0)
    assert result.n_mutual == 1
    assert (result.classes == 1).sum() == 1 and (result.classes == 0).sum() == 2  # a->c, one of 4 no-edge pairs
    with pytest.raises(ValueError, match="not in genes"):
        directed_pairs(["a", "q"], genes, [], random_state=0)


@pytest.mark.parametrize("split", ["tf", "strict"])
def test_folds_keep_both_orientations_of_a_pair_together(split):
    pairs = directed_pairs(list(range(20)), 20, [(i, (i * 7 + 3) % 20) for i in range(20)], random_state=1).pairs
    for train, test, _ in direction_folds(pairs, 3, split, random_state=0):
        test_set = {tuple(p) for p in pairs[test]}
        assert {(b, a) for a, b in test_set} == test_set
        assert not test_set & {tuple(p) for p in pairs[train]}
        assert not test_set & {(b, a) for a, b in pairs[train]}


def test_swapping_a_pair_swaps_the_class():
    values = np.array([0.0, 3.0, -2.0, 1.0])
    model = DirectionClassifier(GeneValueRule(values, symmetric=True), GeneValueRule(values)).fit(
        None, np.array([[0, 1], [1, 0], [2, 3], [0, 3]]), np.array([1, 2, 0, 0]))
    pairs = np.array([[0, 1], [1, 2], [3, 2], [0, 3]])
    proba = model.predict_proba(pairs)
    swapped = model.predict_proba(pairs[:, ::-1])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(swapped, proba[:, [0, 2, 1]])
    predicted, predicted_swapped = model.predict(pairs), model.predict(pairs[:, ::-1])
    np.testing.assert_array_equal(predicted_swapped, SWAPPED[predicted])
    assert (predicted > 0).any()


def test_classifier_refuses_bad_classes():
    model = DirectionClassifier(GeneValueRule([0, 1, 2]), GeneValueRule([0, 1, 2]))
    with pytest.raises(ValueError, match="0 \\(no edge\\), 1"):
        model.fit(None, np.array([[0, 1]]), np.array([3]))
    with pytest.raises(ValueError, match="no b -> a"):
        model.fit(None, np.array([[0, 1], [1, 2]]), np.array([0, 1]))
    with pytest.raises(ValueError, match="not fitted"):
        model.predict_proba(np.array([[0, 1]]))


def test_three_class_proba():
    np.testing.assert_allclose(three_class_proba([0.2, 1.0], [0.5, 0.25]), [[0.8, 0.1, 0.1], [0.0, 0.25, 0.75]])


def test_metrics_of_a_perfect_and_an_inverted_model():
    classes = np.array([1, 2, 0, 0, 2, 1, 0, 0])
    a = np.array(["a", "b", "a", "c", "c", "d", "b", "d"])
    b = np.array(["b", "a", "c", "a", "d", "c", "d", "b"])
    existence = (classes > 0).astype(float)
    forward = (classes == 1).astype(float)
    perfect = direction_metrics(classes, existence, forward, gene_a=a, gene_b=b)
    assert perfect["existence_auroc"] == 1.0 and perfect["fpr_matched"] == 0.0
    assert perfect["direction_auroc"] == 1.0 and perfect["direction_accuracy"] == 1.0
    assert perfect["pairwise_direction_accuracy"] == 1.0
    inverted = direction_metrics(classes, existence, 1 - forward, gene_a=a, gene_b=b)
    assert inverted["direction_auroc"] == 0.0 and inverted["pairwise_direction_accuracy"] == 0.0
    assert pairwise_direction_accuracy(a, b, classes, np.full(8, 0.5)) == 0.5  # ties count half


def test_regulator_prior_knows_only_which_genes_regulate():
    train = np.array([[0, 1], [1, 0], [0, 2], [2, 0]])
    scores = regulator_prior_scores(train, np.array([1, 2, 1, 2]), np.array([[0, 3], [3, 0], [1, 2]]))
    assert scores[0] > 0.5 > scores[1]  # gene 0 regulated twice: it is called the regulator of unseen 3
    assert scores[0] + scores[1] == pytest.approx(1.0)
    assert scores[2] == pytest.approx(0.5)  # genes 1 and 2 are both targets only


def test_cross_validation_fits_each_shared_head_once_per_fold():
    rng = np.random.default_rng(0)
    n = 16
    edges = [(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.25]
    pairs = directed_pairs(list(range(n)), n, edges, random_state=0)
    values = -np.arange(n, dtype=float)  # lower index = regulator, as the edges are drawn
    GeneValueRule.fits = []
    exist = GeneValueRule(values, symmetric=True)
    direction_a, direction_b = GeneValueRule(values), GeneValueRule(-values)
    models = {"right": (exist, direction_a), "wrong": (exist, direction_b), "mixed": (exist, direction_a)}
    expression = rng.poisson(3.0, size=(30, n))
    result = cross_validate_direction(models, expression, pairs.pairs, pairs.classes, n_folds=3, progress=False)
    assert len(GeneValueRule.fits) == 3 * 3  # three distinct heads, once per fold
    done = result.tested()
    assert len(done) == len(pairs)  # split="tf" tests every pair
    assert result.metrics("right")["direction_auroc"] == pytest.approx(1.0)
    assert result.metrics("wrong")["direction_auroc"] == pytest.approx(0.0)
    assert {"baseline_existence", "baseline_forward"} <= set(done.columns)
    np.testing.assert_allclose(done.mixed_forward, done.right_forward)


def test_deepdrim_heads_same_seed_same_numbers(tiny_dataset):
    data, _ = tiny_dataset
    pairs = directed_pairs(data.tfs, data.gene_names, data.edge_names, random_state=0)
    params = dict(epochs=1, batch_size=16, random_state=0, **TINY_MODEL)
    models = lambda: {"deepdrim": (DeepDRIM(n_neighbors=1, **params),) * 2}  # noqa: E731
    assert (pairs.classes == 1).sum() >= 4  # the tiny simulation has TF-TF edges to learn from
    first = cross_validate_direction(models(), data.counts, pairs.pairs, pairs.classes, n_folds=2, progress=False)
    again = cross_validate_direction(models(), data.counts, pairs.pairs, pairs.classes, n_folds=2, progress=False)
    pd.testing.assert_frame_equal(first.predictions, again.predictions)
    assert np.isfinite(first.tested().deepdrim_existence).all()


def test_direction_job_logs_every_model(compose, tmp_path):
    from mlflow.tracking import MlflowClient

    from experiments.tasks import direction

    cfg = compose("task=direction", "data.n_tfs=16", "data.n_genes=40", "neighbors=1")
    metrics = direction.run(cfg, tmp_path / "out")
    for model in direction.MODELS:
        assert 0.0 <= metrics[f"{model}/existence_auroc"] <= 1.0
        assert 0.0 <= metrics[f"{model}/pairwise_direction_accuracy"] <= 1.0
    assert metrics["direction_accuracy_gain/combined"] == pytest.approx(0.0)  # CNNC's direction head, by design
    ranked = pd.read_csv(tmp_path / "out" / "rankedEdges.csv", sep="\t")
    assert list(ranked.columns[:3]) == ["Gene1", "Gene2", "EdgeWeight"]
    client = MlflowClient(cfg.tracking.uri)
    (run,) = client.search_runs([client.get_experiment_by_name(cfg.tracking.experiment).experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.metrics["combined/existence_auroc"] == pytest.approx(metrics["combined/existence_auroc"])


def test_direction_job_degrades_its_data_as_the_cv_job_does(compose, tmp_path):
    """``cells=`` reaches the direction job (it was loaded undegraded, the knob silently ignored)."""
    import json

    from mlflow.tracking import MlflowClient

    from experiments.tasks import direction

    cfg = compose("task=direction", "data.n_tfs=16", "data.n_genes=40", "neighbors=1", "cells=60")
    direction.run(cfg, tmp_path / "out")
    client = MlflowClient(cfg.tracking.uri)
    (run,) = client.search_runs([client.get_experiment_by_name(cfg.tracking.experiment).experiment_id])
    (logged,) = run.inputs.dataset_inputs
    assert json.loads(logged.dataset.profile)["cells"] == 60 < int(cfg.data.n_cells)


def test_direction_job_refuses_data_without_enough_tf_edges(compose, tmp_path):
    from experiments.tasks import direction

    with pytest.raises(ValueError, match="TF-TF edge"):
        direction.run(compose("task=direction", "data.n_tfs=3", "data.n_genes=20", "neighbors=1"), tmp_path / "out")


@pytest.mark.slow
def test_direction_without_neighbors_is_one_line_before_anything_runs(run_py, tmp_path):
    result = run_py("task=direction", "neighbors=0", f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: task=direction compares DeepDRIM with CNNC: neighbors must be >= 1 (CNNC is always run), got 0"]
    assert not (tmp_path / "mlflow.db").exists()


def test_predict_directed_ranks_every_ordered_tf_pair(compose, tmp_path):
    from experiments.tasks import predict

    cfg = compose("task=predict", "directed=true", "data.n_tfs=16", "data.n_genes=40", "neighbors=1")
    metrics = predict.run(cfg, tmp_path / "out")
    ranked = pd.read_csv(tmp_path / "out" / "rankedEdges.csv", sep="\t")
    assert len(ranked) == metrics["n_candidates"] == 16 * 15
    assert ranked.EdgeWeight.between(0, 1).all() and ranked.EdgeWeight.is_monotonic_decreasing
    ordered = set(zip(ranked.Gene1, ranked.Gene2))
    assert all((b, a) in ordered for a, b in ordered)  # both orientations, each its own score


def test_predict_directed_refuses_a_baseline(compose, tmp_path):
    from experiments.tasks import predict

    with pytest.raises(ValueError, match="directed=true trains the combined direction model"):
        predict.run(compose("task=predict", "directed=true", "method=pcc"), tmp_path / "out")
