"""The CV job end to end with a stand-in model: the strict split keeps every gene on one side,
the gene-prior column comes from the fold's training pairs, trust and CI are logged, a bad split is
a one-line error, and the trust rule."""
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from experiments.config import data as job_data
from experiments.config.method import validate
from deepdrim import verdicts
from experiments.config import method
from experiments.tasks import cv as cv_job
from tests.conftest import stand_in_for_deepdrim


class Recorder:
    """Stands in for DeepDRIM: records the training pairs, scores a pair by its TF index."""

    fits: list = []

    def __init__(self, **params):
        pass

    def fit(self, expression, pairs, labels, epoch_callback=None):
        Recorder.fits.append(np.asarray(pairs))
        return self

    def predict_proba(self, pairs):
        p = (np.asarray(pairs)[:, 0] % 7) / 7.0
        return np.column_stack([1 - p, p])


def _strict_cfg(config, tiny, *extra):
    overrides = [o for o in tiny if not o.startswith(("cv.", "data.n_tfs", "data.n_genes"))]
    return config(*overrides, "data.n_tfs=12", "data.n_genes=60", "cv.n_folds=3", "cv.split=strict", *extra)


def test_strict_split_through_a_cv_job_keeps_every_gene_on_one_side(monkeypatch, config, tiny):
    Recorder.fits = []
    stand_in_for_deepdrim(monkeypatch, Recorder)
    cfg = _strict_cfg(config, tiny)
    data = job_data.load(OmegaConf.to_container(cfg.data, resolve=True), 0)
    result = method.cross_validate(cfg, data)
    predictions, stats = result.predictions, result.folds
    untested = predictions.fold < 0
    assert untested.any() and (~untested).any()
    assert predictions.loc[untested, ["score", "pcc", "prior"]].isna().all().all()  # NaN, never scored
    assert predictions.loc[~untested, ["score", "pcc", "prior"]].notna().all().all()
    names = np.array(data.gene_names, dtype=object)
    for k, trained in enumerate(Recorder.fits):
        test = predictions[predictions.fold == k]
        train_genes = set(names[trained[:, 0]]) | set(names[trained[:, 1]])
        assert not train_genes & (set(test.tf) | set(test.target))  # no TF and no target on both sides
        assert stats[k].n_train_pairs == len(trained)
        assert stats[k].n_train_tfs == len(np.unique(trained[:, 0]))
        assert stats[k].n_train_pairs + stats[k].n_test_pairs + stats[k].n_dropped == len(predictions)
    metrics = result.metrics()  # on tested rows only
    assert np.isfinite(metrics["auroc"])


def test_prior_column_is_the_targets_positive_rate_in_the_folds_training_pairs(monkeypatch, config, tiny):
    Recorder.fits = []
    stand_in_for_deepdrim(monkeypatch, Recorder)
    cfg = config(*tiny)  # cv.split=tf by default
    assert cfg.cv.split == "tf"
    data = job_data.load(OmegaConf.to_container(cfg.data, resolve=True), 0)
    predictions = method.cross_validate(cfg, data).predictions
    assert (predictions.fold >= 0).all()
    pairs, labels = data.pairs.pairs, data.pairs.labels
    for k, trained in enumerate(Recorder.fits):
        is_train = (pairs[:, None, :] == trained[None, :, :]).all(-1).any(1)
        overall = labels[is_train].mean()
        for i in np.flatnonzero((predictions.fold == k).to_numpy()):
            seen = is_train & (pairs[:, 1] == pairs[i, 1])
            expected = labels[seen].mean() if seen.any() else overall
            assert predictions.prior[i] == pytest.approx(expected)


def test_cv_run_logs_prior_trust_and_ci(tmp_path, compose, store):
    cfg = compose("method=pcc", "neighbors=0", "data.n_tfs=12", "data.n_genes=60", "cv.n_folds=3", "cv.split=strict")
    metrics = cv_job.run(cfg, tmp_path / "out")
    for key in ("prior/auroc", "prior/auprc", "n_train_pairs", "n_train_tfs", "n_dropped", "fold0/n_dropped",
                "auroc_ci_low", "auroc_ci_high", "n_tested"):
        assert np.isfinite(metrics[key]), key
    assert metrics["auroc_ci_low"] <= metrics["auroc"] <= metrics["auroc_ci_high"]
    assert metrics["n_dropped"] > 0 and metrics["n_tested"] < metrics["n_pairs"]
    client = MlflowClient(cfg.tracking.uri)
    (run,) = client.search_runs([client.get_experiment_by_name("deepdrim").experiment_id])
    assert run.data.tags["cv_split"] == "strict" and run.data.tags["trust"] in verdicts.TRUST_LEVELS
    assert run.data.tags["trust_line"].startswith("pcc ")
    predictions = pd.read_csv(tmp_path / "out" / "predictions.csv")
    assert {"prior", "pcc", "score", "fold"} <= set(predictions.columns)


def test_bad_split_is_a_one_line_error(config, tiny):
    cfg = config(*tiny, "cv.split=random")
    data = job_data.load(OmegaConf.to_container(cfg.data, resolve=True), 0)
    with pytest.raises(ValueError, match="cv.split must be one of"):
        validate(cfg, data)


@pytest.mark.parametrize("ci_low, ci_high, n_train, level", [
    (0.75, 0.85, 100, "beats"),       # CI above both baselines: beats, whatever the size
    (0.60, 0.80, 100, "too_small"),   # overlaps Pearson with few training pairs
    (0.60, 0.80, 900, "overlaps"),
    (0.40, 0.65, 900, "below"),
])
def test_trust_rule(ci_low, ci_high, n_train, level):
    result = verdicts.trust("DeepDRIM", 0.7, ci_low, ci_high, pcc_auroc=0.71, prior_auroc=0.49, n_train_pairs=n_train)
    assert result.level == level
    assert result.line.startswith(f"DeepDRIM 0.70 [{ci_low:.2f}, {ci_high:.2f}] vs Pearson 0.71, gene prior 0.49: ")
