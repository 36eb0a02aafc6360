"""Issue 19 items 1-3: BEELINE benchmark folders as given (Score columns, ``data.network``,
``data.max_tfs``), the controls of every CV job (target mean, the target-only ablation), the trust
line against the strongest control and the failed-to-learn flag. Tiny and seeded."""
import logging

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from deepdrim.baselines import target_mean_scores
from deepdrim.diagnostics import (PLATEAU_TOLERANCE, LearningFailureWarning, constant_scores, learning_failure,
                                  plateau_loss)
from deepdrim.images import PairImageBuilder
from deepdrim.io import read_beeline
from experiments.config import checks
from deepdrim import verdicts
from experiments.config import data as job_data
from experiments.config.method import estimator_params
from experiments.config import method
from experiments.tasks import cv as cv_job
from tests.conftest import TINY_MODEL, stand_in_for_deepdrim

N_TFS, N_GENES, N_CELLS = 8, 40, 60
GENES = [f"TF{i}" for i in range(N_TFS)] + [f"G{i}" for i in range(N_GENES - N_TFS)]


def one_line(err) -> str:
    assert "\n" not in str(err.value)
    return str(err.value)


@pytest.fixture
def bench(tmp_path):
    """A tiny BEELINE benchmark folder as GENELink/BEELINE ship them: processed log values (not
    counts), ``refNetwork.csv`` with Gene1,Gene2, and ``networks/`` variants, one with ``Score``."""
    rng = np.random.default_rng(0)
    values = np.log2(rng.poisson(3.0, size=(N_GENES, N_CELLS)) * rng.uniform(0.5, 2.0, size=(N_GENES, N_CELLS)) + 1)
    folder = tmp_path / "bench"
    (folder / "networks").mkdir(parents=True)
    cells = [f"cell_{i}" for i in range(N_CELLS)]
    pd.DataFrame(values, index=GENES, columns=cells).to_csv(folder / "ExpressionData.csv")
    edges = [(f"TF{t}", GENES[g]) for t in range(N_TFS)
             for g in rng.choice(np.arange(N_TFS, N_GENES), 6, replace=False)]
    pd.DataFrame(edges, columns=["Gene1", "Gene2"]).to_csv(folder / "refNetwork.csv", index=False)
    scored = pd.DataFrame(edges[:20], columns=["Gene1", "Gene2"]).assign(Score=rng.uniform(100, 2000, 20).round(1))
    scored.to_csv(folder / "networks" / "Specific.BL--network.csv", index=False)
    pd.DataFrame([("TF0", "G1"), ("TF1", "G2"), ("TF2", "G3"), ("TF3", "G4")], columns=["Gene1", "Gene2"]).to_csv(
        folder / "networks" / "STRING.BL--network.csv", index=False)
    return folder


# ---------------------------------------------------------------------------------------------- item 1
def test_benchmark_folder_reads_as_given_and_ignores_score(bench):
    data = read_beeline(bench, "networks/Specific.BL--network.csv")
    assert data.expression.shape == (N_CELLS, N_GENES)
    assert len(data.edges) == 20 and set(data.edges.columns) == {"tf", "target", "sign"}
    assert (data.edges.sign == 0).all()  # no Type column: sign unknown; Score is ignored
    assert "network=" in data.source and read_beeline(bench).source == f"beeline:{bench}"


def test_data_network_relative_to_the_folder_or_absolute(bench, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a path relative to the folder, not to where the command runs
    cfg = {"kind": "beeline", "path": str(bench)}
    default = job_data.load(cfg, seed=0)
    string = job_data.load({**cfg, "network": "networks/STRING.BL--network.csv"}, seed=0)
    absolute = job_data.load({**cfg, "network": str(bench / "networks" / "STRING.BL--network.csv")}, seed=0)
    assert len(default.tfs) == N_TFS and int(default.pairs.labels.sum()) == N_TFS * 6
    assert string.tfs == absolute.tfs == ["TF0", "TF1", "TF2", "TF3"]
    np.testing.assert_array_equal(string.pairs.pairs, absolute.pairs.pairs)
    assert int(string.pairs.labels.sum()) == 4
    with pytest.raises(ValueError, match="network file not found: .*networks/nope.csv") as err:
        job_data.load({**cfg, "network": "networks/nope.csv"}, seed=0)
    one_line(err)


def test_max_tfs_draws_n_tfs_by_seed(bench, caplog):
    cfg = {"kind": "beeline", "path": str(bench), "max_tfs": 3}
    with caplog.at_level(logging.INFO, logger="deepdrim.data"):
        first = job_data.load(cfg, seed=0)
    again = job_data.load(cfg, seed=0)
    assert len(first.tfs) == 3 and set(first.tfs) <= {f"TF{i}" for i in range(N_TFS)}
    assert first.tfs == again.tfs  # seeded: same seed, same TFs, same pairs
    np.testing.assert_array_equal(first.pairs.pairs, again.pairs.pairs)
    names = np.asarray(first.gene_names, dtype=object)
    assert set(names[first.pairs.pairs[:, 0]]) == set(first.tfs)  # only the drawn TFs' pairs
    assert int(first.pairs.labels.sum()) == 3 * 6
    draws = {tuple(job_data.load(cfg, seed=s).tfs) for s in range(6)}
    assert len(draws) > 1  # the seed decides which TFs
    line = next(r.getMessage() for r in caplog.records if "data.max_tfs=3" in r.getMessage())
    assert f"of {N_TFS} TFs" in line and f"{len(first.pairs)} labelled pairs" in line
    everything = job_data.load({**cfg, "max_tfs": N_TFS}, seed=0)
    assert sorted(everything.tfs) == sorted(job_data.load({**cfg, "max_tfs": None}, seed=0).tfs)


def test_max_tfs_errors(bench, config, tiny):
    with pytest.raises(ValueError, match=f"data.max_tfs=9 but the network has {N_TFS} TFs") as err:
        job_data.load({"kind": "beeline", "path": str(bench), "max_tfs": 9}, seed=0)
    one_line(err)
    cfg = config("data=beeline", f"data.path={bench}", "data.max_tfs=2", "cv.n_folds=3")
    with pytest.raises(ValueError, match="data.max_tfs=2 is fewer than cv.n_folds=3"):
        checks.check_config(cfg)
    with pytest.raises(ValueError, match="data.max_tfs must be an integer >= 1"):
        checks.check_config(config("data=beeline", f"data.path={bench}", "data.max_tfs=0"))


# ---------------------------------------------------------------------------------------------- item 2
class Stub:
    """Stands in for DeepDRIM in a CV job: scores a pair by its TF index (or a constant)."""

    constant = None
    failure = None

    def __init__(self, **params):
        self.params = params

    def _check_params(self):
        pass

    def fit(self, expression, pairs, labels, epoch_callback=None):
        self.failure_ = Stub.failure
        return self

    def predict_proba(self, pairs):
        p = np.full(len(pairs), Stub.constant) if Stub.constant is not None else (np.asarray(pairs)[:, 0] % 7) / 7.0
        return np.column_stack([1 - p, p])


@pytest.fixture
def stub(monkeypatch):
    Stub.constant, Stub.failure = None, None
    stand_in_for_deepdrim(monkeypatch, Stub)
    return Stub


def test_target_mean_column_is_the_targets_mean_expression(stub, config, tiny):
    cfg = config(*tiny)
    data = job_data.load(OmegaConf.to_container(cfg.data, resolve=True), 0)
    predictions = method.cross_validate(cfg, data).predictions
    means = data.expression.mean(axis=0)
    np.testing.assert_allclose(predictions.target_mean, means[predictions.target].to_numpy(), rtol=1e-6)
    pairs = data.pairs.pairs
    np.testing.assert_allclose(target_mean_scores(data.expression.to_numpy(), pairs),
                               data.expression.to_numpy().mean(axis=0)[pairs[:, 1]], rtol=1e-6)


def test_cv_job_scores_each_control_and_names_the_strongest(stub, config, tiny):
    cfg = config(*tiny)
    result = method.cross_validate(cfg, job_data.load(OmegaConf.to_container(cfg.data, resolve=True), 0))
    metrics = result.metrics()
    for name in cv_job.CONTROLS:  # as run() logs them
        metrics.update({f"{name}/{k}": v for k, v in result.metrics(name).items() if "/" not in k})
        assert np.isfinite(metrics[f"{name}/auroc"]) and np.isfinite(metrics[f"{name}/auprc"])
    metrics.update(auroc_ci_low=metrics["auroc"] - 0.01, auroc_ci_high=metrics["auroc"] + 0.01, n_train_pairs=900)
    controls = {"Pearson": metrics["pcc/auroc"], "gene prior": metrics["prior/auroc"],
                "target mean": metrics["target_mean/auroc"]}
    strongest = max(controls, key=controls.get)
    verdict = cv_job.trust_verdict(cfg, metrics)
    assert f"target mean {metrics['target_mean/auroc']:.2f}" in verdict.line
    if verdict.level == "beats":
        assert f"(strongest: {strongest})" in verdict.line
    else:
        assert f"the strongest control, {strongest} {controls[strongest]:.2f}" in verdict.line


@pytest.mark.parametrize("pcc, prior, mean, name", [(0.71, 0.49, 0.55, "Pearson"), (0.50, 0.80, 0.60, "gene prior"),
                                                    (0.50, 0.60, 0.85, "target mean")])
def test_trust_compares_with_the_strongest_control(pcc, prior, mean, name):
    best = max(pcc, prior, mean)
    below = verdicts.trust("DeepDRIM", 0.6, 0.55, 0.65, pcc, prior, 900, target_mean_auroc=mean)
    assert below.level == ("below" if best > 0.65 else "overlaps")
    assert f"the strongest control, {name} {best:.2f}" in below.line
    above = verdicts.trust("DeepDRIM", 0.95, 0.9, 0.99, pcc, prior, 900, target_mean_auroc=mean)
    assert above.level == "beats" and f"(strongest: {name})" in above.line
    # a target mean above the method's CI makes it "below" even when Pearson and the prior are beaten
    assert verdicts.trust("DeepDRIM", 0.7, 0.66, 0.74, 0.5, 0.6, 900, target_mean_auroc=0.8).level == "below"


def test_target_rows_depend_on_the_target_only(tiny_dataset):
    data, _ = tiny_dataset
    builder = PairImageBuilder(data.counts, n_neighbors=3)
    n = builder.n_neighbors
    pairs = np.array([[0, 10], [1, 10], [2, 10], [0, 11]])
    rows = builder.target_rows(pairs)
    assert rows.shape == (4, 2 * n + 3)
    assert (rows[:, [0, 1, *range(3, n + 3)]] == 0).all()  # the TF's channels: the all-zero row
    assert not builder.images[0].any()
    np.testing.assert_array_equal(rows[0], rows[1])
    np.testing.assert_array_equal(rows[0], rows[2])
    full = builder.rows(pairs)
    np.testing.assert_array_equal(rows[:, 2], full[:, 2])  # (b, b) is the self image of the full layout
    with pytest.raises(ValueError, match="n_neighbors >= 1"):
        PairImageBuilder(data.counts, n_neighbors=0).target_rows(pairs)


def test_target_only_model_ignores_the_tfs_images(tiny_dataset):
    from deepdrim import DeepDRIM
    from deepdrim.images import pair_images

    data, pairs = tiny_dataset
    model = DeepDRIM(n_neighbors=2, epochs=2, batch_size=16, inputs="target_only", random_state=0, **TINY_MODEL)
    with pytest.warns(UserWarning):  # too few TFs for a validation split (and maybe: did not learn)
        model.fit(data.counts, pairs.pairs, pairs.labels)
    targets = np.unique(pairs.pairs[:, 1])[:5]
    probe = np.array([[tf, g] for g in targets for tf in range(3) if tf != g])
    scores = model.predict_proba(probe)[:, 1]
    for g in targets:  # every TF gets the same score for one target
        assert np.ptp(scores[probe[:, 1] == g]) == 0.0
    images = pair_images(data.counts, probe, n_neighbors=2)
    changed = images.copy()
    changed[:, [0, 1, 3, 4]] = np.random.default_rng(0).random(changed[:, [0, 1, 3, 4]].shape)
    np.testing.assert_array_equal(model.predict_proba_images(images), model.predict_proba_images(changed))
    with pytest.raises(ValueError, match="target_only' needs n_neighbors >= 1"):
        DeepDRIM(n_neighbors=0, inputs="target_only")._check_params()


def test_target_only_method_checks(config, tiny):
    checks.check_config(config(*tiny, "method=target_only"))
    assert estimator_params(config(*tiny, "method=target_only"))["inputs"] == "target_only"
    assert estimator_params(config(*tiny))["inputs"] == "all"
    with pytest.raises(ValueError, match="method=target_only"):
        checks.check_config(config(*tiny, "model.inputs=target_only"))
    with pytest.raises(ValueError, match="model.inputs=all with method=target_only"):
        checks.check_config(config(*tiny, "method=target_only", "model.inputs=all"))
    with pytest.raises(ValueError, match="needs neighbors >= 1"):
        checks.neighbors(0, 30, "target_only")


# ---------------------------------------------------------------------------------------------- item 3
def test_learning_failure_rules():
    balanced = np.array([0, 1] * 50)
    assert plateau_loss(balanced) == pytest.approx(np.log(2))
    assert plateau_loss([0, 0, 0, 1]) == pytest.approx(-(0.25 * np.log(0.25) + 0.75 * np.log(0.75)))
    assert constant_scores(np.full(10, 0.5)) and constant_scores([0.5, 0.5 + 1e-9, np.nan])
    assert not constant_scores([0.4, 0.6])
    varied = np.linspace(0.2, 0.8, 100)
    assert learning_failure([0.6932, 0.6931, 0.6930], balanced, varied).startswith("training loss never left the 0.693")
    assert learning_failure([0.69, 0.62, 0.55], balanced, varied) is None
    assert learning_failure([0.69, 0.5], balanced, np.full(100, 0.5)).startswith("constant scores")
    assert learning_failure([np.log(2) - PLATEAU_TOLERANCE / 2], balanced, varied) is not None


def test_estimator_records_a_fit_that_did_not_learn(tiny_dataset):
    from deepdrim import DeepDRIM

    data, pairs = tiny_dataset
    model = DeepDRIM(n_neighbors=0, epochs=2, batch_size=16, learning_rate=1e-9, random_state=0, **TINY_MODEL)
    with pytest.warns(LearningFailureWarning, match="did not learn"):
        model.fit(data.counts, pairs.pairs, pairs.labels)
    assert model.learned_ is False and ("plateau" in model.failure_ or "constant" in model.failure_)


def test_cross_validation_reports_a_fit_that_did_not_learn_once_per_fold(tiny_dataset, caplog):
    """The fold's line (with its number) replaces the estimator's warning: one report per failed fit."""
    import warnings

    from deepdrim import DeepDRIM
    from deepdrim.evaluation import cross_validate

    data, pairs = tiny_dataset
    model = DeepDRIM(n_neighbors=0, epochs=2, batch_size=16, learning_rate=1e-9, random_state=0, **TINY_MODEL)
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING, "deepdrim.evaluation"):
        warnings.simplefilter("always")
        result = cross_validate(model, data.counts, pairs.pairs, pairs.labels, n_folds=2, progress=False)
    failed = [k for k, report in enumerate(result.folds) if report.failure]
    assert failed == [0, 1]
    assert not [w for w in caught if issubclass(w.category, LearningFailureWarning)]
    lines = [r.getMessage() for r in caplog.records if "did not learn" in r.getMessage()]
    assert [line.split(":")[0] for line in lines] == ["fold 0 did not learn", "fold 1 did not learn"]


def test_cv_job_flags_constant_scores_as_failed_to_learn(stub, compose, tmp_path, capsys):
    stub.constant = 0.5  # the model says nothing; its AUROC would be 0.5
    cfg = compose()
    metrics = cv_job.run(cfg, tmp_path / "out")
    out = capsys.readouterr().out
    assert "FAILED to learn" in out and "auroc=0.500" not in out
    assert metrics["auroc"] == pytest.approx(0.5) and metrics["n_failed_folds"] == 2  # logged, tagged as no result
    for name in cv_job.CONTROLS:  # the controls are still measured and logged
        assert np.isfinite(metrics[f"{name}/auroc"]) and f"{name}_auroc=" in out
    assert metrics["fold0/learned"] == 0.0
    predictions = pd.read_csv(tmp_path / "out" / "predictions.csv")
    assert {"score", "pcc", "prior", "target_mean", "fold"} <= set(predictions.columns)
    client = MlflowClient(cfg.tracking.uri)
    (run,) = client.search_runs([client.get_experiment_by_name("deepdrim").experiment_id])
    assert run.data.tags["trust"] == "failed_to_learn"
    assert "FAILED to learn (folds 0, 1 of 2: constant scores" in run.data.tags["trust_line"]


def test_cv_job_flags_a_fold_the_estimator_reports(stub, config, tiny):
    stub.failure = "training loss never left the 0.693 plateau (lowest 0.6930 over 16 epochs)"
    cfg = config(*tiny)
    result = method.cross_validate(cfg, job_data.load(OmegaConf.to_container(cfg.data, resolve=True), 0))
    assert [fold.failure for fold in result.folds] == [stub.failure] * 2  # scores vary: the estimator's flag
    failure = result.failure_summary()
    assert failure == "folds 0, 1 of 2: training loss never left the 0.693 plateau"
    metrics = result.metrics()
    verdict = cv_job.trust_verdict(cfg, metrics, failure)
    assert verdict.level == "failed_to_learn" and "FAILED to learn (folds 0, 1 of 2" in verdict.line
