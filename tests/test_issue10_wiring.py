"""Issue 10's evaluation wired into the jobs: the strict split and the gene prior through a CV
job, trust, matched-sensitivity FPs and neighbor rules of the GGM study, the neighbor-ranking
option, model selection on >= 4 TFs, the config hash of new keys and the study verdicts."""
import warnings

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from deepdrim.cv import MIN_VALIDATION_TFS, tf_validation_split
from deepdrim.images import PairImageBuilder, pair_images
from deepdrim.multi_images import dataset_pair_images
from deepdrim.neighbors import neighbor_lists
from experiments import data as job_data
from experiments import tracking, verdicts
from experiments.tasks import cv as cv_job
from experiments.tasks import fig1_ggm
from tests.conftest import TINY_MODEL


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


# ------------------------------------------------------------------ CV job: split, prior, trust
def _strict_cfg(config, tiny, *extra):
    overrides = [o for o in tiny if not o.startswith(("cv.", "data.n_tfs", "data.n_genes"))]
    return config(*overrides, "data.n_tfs=12", "data.n_genes=60", "cv.n_folds=3", "cv.split=strict", *extra)


def test_strict_split_through_a_cv_job_keeps_every_gene_on_one_side(monkeypatch, config, tiny):
    Recorder.fits = []
    monkeypatch.setattr(cv_job, "DeepDRIM", Recorder)
    cfg = _strict_cfg(config, tiny)
    data = job_data.load(OmegaConf.to_container(cfg.data, resolve=True), 0)
    stats: list = []
    predictions = cv_job.cross_validate(cfg, data, fold_stats=stats)
    untested = predictions.fold < 0
    assert untested.any() and (~untested).any()
    assert predictions.loc[untested, ["score", "pcc", "prior"]].isna().all().all()  # NaN, never scored
    assert predictions.loc[~untested, ["score", "pcc", "prior"]].notna().all().all()
    names = np.array(data.gene_names, dtype=object)
    for k, trained in enumerate(Recorder.fits):
        test = predictions[predictions.fold == k]
        train_genes = set(names[trained[:, 0]]) | set(names[trained[:, 1]])
        assert not train_genes & (set(test.tf) | set(test.target))  # no TF and no target on both sides
        assert stats[k]["n_train_pairs"] == len(trained)
        assert stats[k]["n_train_tfs"] == len(np.unique(trained[:, 0]))
        assert stats[k]["n_train_pairs"] + stats[k]["n_test_pairs"] + stats[k]["n_dropped"] == len(predictions)
    metrics = cv_job.fold_metrics(predictions)  # on tested rows only
    assert np.isfinite(metrics["auroc"])


def test_prior_column_is_the_targets_positive_rate_in_the_folds_training_pairs(monkeypatch, config, tiny):
    Recorder.fits = []
    monkeypatch.setattr(cv_job, "DeepDRIM", Recorder)
    cfg = config(*tiny)  # cv.split=tf by default
    assert cfg.cv.split == "tf"
    data = job_data.load(OmegaConf.to_container(cfg.data, resolve=True), 0)
    predictions = cv_job.cross_validate(cfg, data)
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
        cv_job.validate(cfg, data)


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


# ------------------------------------------------------------------ validation on >= 4 TFs
def _balanced_pairs(n_tfs: int):
    pairs = np.array([[tf, 100 + j] for tf in range(n_tfs) for j in range(4)])
    return pairs, np.tile([1, 0, 1, 0], n_tfs)


def test_validation_split_needs_min_val_tfs():
    pairs, labels = _balanced_pairs(7)  # 7 TFs < 2 x 4: 0.2 of them (1) is not raised to 4
    assert tf_validation_split(pairs, labels, 0.2, 0, min_val_tfs=MIN_VALIDATION_TFS) is None
    train, val = tf_validation_split(pairs, labels, 0.6, 0, min_val_tfs=MIN_VALIDATION_TFS)  # round(4.2) = 4
    assert len(np.unique(pairs[val, 0])) == 4 and not set(pairs[val, 0]) & set(pairs[train, 0])


@pytest.mark.parametrize("n_tfs, fraction, expected", [
    (8, 0.2, 4), (16, 0.2, 4), (15, 0.2, 4), (24, 0.2, 5), (30, 0.1, 4), (40, 0.2, 8), (8, 0.9, 7)])
def test_validation_split_is_raised_to_min_val_tfs_when_there_are_enough(n_tfs, fraction, expected):
    """The default data's folds (15-16 training TFs) and BEELINE's 16-30 TFs validate on >= 4 TFs."""
    pairs, labels = _balanced_pairs(n_tfs)
    train, val = tf_validation_split(pairs, labels, fraction, 0, min_val_tfs=MIN_VALIDATION_TFS)
    val_tfs, train_tfs = set(pairs[val, 0]), set(pairs[train, 0])
    assert len(val_tfs) == expected and len(train_tfs) == n_tfs - expected and not val_tfs & train_tfs
    assert len(train) + len(val) == len(pairs)


def test_estimator_with_too_few_validation_tfs_trains_a_fixed_budget(tiny_dataset):
    from deepdrim import DeepDRIM

    data, pairs = tiny_dataset  # 6 TFs: 0.2 of them is one TF
    model = DeepDRIM(n_neighbors=0, epochs=3, patience=0, batch_size=16, random_state=0, **TINY_MODEL)
    with pytest.warns(UserWarning, match=">= 4 TFs"):
        model.fit(data.counts, pairs.pairs, pairs.labels)
    assert len(model.history_["loss"]) == 3 and model.best_epoch_ == 2  # no early stopping, last epoch
    assert np.isnan(model.history_["val_auroc"]).all()


def test_validation_fraction_zero_asks_for_the_fixed_budget_without_a_warning(tiny_dataset):
    """The default job's setting: no split, every epoch on every training TF, the last kept, quietly;
    the same model as the warned fallback (both train on all pairs)."""
    import warnings

    from deepdrim import DeepDRIM

    data, pairs = tiny_dataset
    params = dict(n_neighbors=0, epochs=3, patience=0, batch_size=16, random_state=0, **TINY_MODEL)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet = DeepDRIM(validation_fraction=0.0, **params).fit(data.counts, pairs.pairs, pairs.labels)
    assert not [w for w in caught if "validation split" in str(w.message)]
    assert len(quiet.history_["loss"]) == 3 and quiet.best_epoch_ == 2
    assert np.isnan(quiet.history_["val_auroc"]).all()
    with pytest.warns(UserWarning, match=">= 4 TFs"):
        warned = DeepDRIM(**params).fit(data.counts, pairs.pairs, pairs.labels)
    assert np.array_equal(quiet.history_["loss"], warned.history_["loss"])
    assert np.allclose(quiet.predict_proba(pairs.pairs), warned.predict_proba(pairs.pairs))


# ------------------------------------------------------------------ neighbor ranking values
def test_neighbor_values_raw_is_the_reference_and_log_follows_neighbor_lists(tiny_dataset):
    data, pairs = tiny_dataset
    chosen = pairs.pairs[:12]
    np.testing.assert_array_equal(pair_images(data.counts, chosen, 3), pair_images(data.counts, chosen, 3,
                                                                                     neighbor_values="raw"))
    raw, log = (PairImageBuilder(data.counts, 3, neighbor_values=v) for v in ("raw", "log"))
    genes = np.unique(chosen)
    for builder, values in ((raw, "raw"), (log, "log")):
        builder.build(chosen)
        np.testing.assert_array_equal(builder._candidates[genes, :3], neighbor_lists(data.counts, 3, values, genes=genes))
    assert (raw._candidates[genes] != log._candidates[genes]).any()  # the option changes the lists
    with pytest.raises(ValueError, match="neighbor_values must be one of"):
        PairImageBuilder(data.counts, 3, neighbor_values="tpm")


def test_estimator_takes_neighbor_values():
    from deepdrim import DeepDRIM

    assert DeepDRIM().get_params()["neighbor_values"] == "raw"
    with pytest.raises(ValueError, match="neighbor_values"):
        DeepDRIM(neighbor_values="zscore")._check_params()


# ------------------------------------------------------------------ GGM: neighbor rule, matched FPs
def test_ggm_neighbor_rules_pick_positive_absolute_or_all():
    # 4 genes; gene 0 covaries + with gene 2 and - with gene 3 (pair (0, 1))
    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 2))
    values = np.column_stack([z[:, 0], z[:, 1], z[:, 0] + 0.1 * rng.normal(size=300), -z[:, 0]])[None]
    pair = np.array([[0, 1]])

    def neighbors_of_a(rule):
        img = dataset_pair_images(values, [0], pair, 2, 8, neighbor_rule=rule)
        expected = {g: dataset_pair_images(values, [0], np.array([[0, g]]), 2, 8)[0, 0] for g in (2, 3)}
        return [next((g for g, e in expected.items() if np.array_equal(img[0, 3 + j], e)), None)
                if img[0, 3 + j].any() else -1 for j in range(2)]

    assert neighbors_of_a("positive") == [2, -1]  # the paper: the negative-covariance gene's slot is blank
    assert sorted(neighbors_of_a("absolute")) == [2, 3]
    assert sorted(neighbors_of_a("all")) == [2, 3]
    with pytest.raises(ValueError, match="neighbor_rule must be one of"):
        dataset_pair_images(values, [0], pair, 2, 8, neighbor_rule="signed")


def test_ggm_matched_sensitivity_false_positives():
    # 5 positives; at 80% sensitivity (4 found) primary calls 3 negatives, augmented 1
    labels = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    kind = np.array(["direct"] * 5 + ["transitive", "transitive", "random", "random", "transitive", "random"])
    primary = np.array([0.9, 0.8, 0.7, 0.6, 0.1, 0.95, 0.65, 0.62, 0.3, 0.2, 0.05])
    augmented = np.array([0.4, 0.35, 0.3, 0.25, 0.01, 0.45, 0.1, 0.05, 0.03, 0.02, 0.01])
    frame = pd.DataFrame({"label": labels, "kind": kind, "fold": 0, "primary": primary, "augmented": augmented})
    m = fig1_ggm.study_metrics(frame, sensitivity=0.8)
    assert m["primary/fp"] == 3 and m["augmented/fp"] == 0  # at 0.5 the augmented arm is just lower
    assert (m["primary/fp_matched"], m["primary/fp_matched_transitive"], m["primary/fp_matched_random"]) == (3, 2, 1)
    assert (m["augmented/fp_matched"], m["augmented/fp_matched_transitive"]) == (1, 1)
    assert m["fp_reduction_matched/augmented"] == pytest.approx(1 - 1 / 3)
    assert m["fp_reduction_matched/augmented_transitive"] == pytest.approx(0.5)
    assert m["primary/auroc_transitive"] == pytest.approx(np.mean([[p > n for n in primary[[5, 6, 9]]]
                                                                   for p in primary[:5]]))


def test_ggm_config_checks_sensitivity_and_rule():
    from tests.conftest import compose_config

    for override, message in (("ggm.sensitivity=1.5", "ggm.sensitivity"), ("ggm.neighbor_rule=signed", "neighbor_rule")):
        with pytest.raises(ValueError, match=message):
            fig1_ggm.check(compose_config("experiment=fig1_ggm", override))


# ------------------------------------------------------------------ config hash of new keys
def test_new_keys_at_their_neutral_value_keep_the_config_hash():
    old = {"seed": 0, "cv": {"n_folds": 3}, "model": {"n_bins": 32}, "data": {"kind": "sim"}}
    new = {"seed": 0, "cv": {"n_folds": 3, "split": "tf"}, "model": {"n_bins": 32, "neighbor_values": "raw"},
           "data": {"kind": "sim", "dropout": "logistic", "in_degree": "uniform"}}
    assert tracking.config_hash(old) == tracking.config_hash(new)
    strict = {**new, "cv": {"n_folds": 3, "split": "strict"}}
    assert tracking.config_hash(strict) != tracking.config_hash(old)


# ------------------------------------------------------------------ study verdicts
def _table(rows):
    return pd.DataFrame(rows, columns=["x", "line", "seed", "auroc"])


def test_within_verdict_and_smallest_x():
    rows = []
    for seed, noise in enumerate((0.0, 0.004, -0.004)):
        for x, value in ((20, 0.60), (100, 0.75), (200, 0.79), (4000, 0.80)):
            rows.append((x, np.nan, seed, value + noise))
    v = verdicts.study_verdict(_table(rows), {"claim": "4A", "effect": "within", "at": 150, "tolerance": 0.02})
    assert v.effect == pytest.approx(-0.01) and v.verdict == "supported"  # at 150 -> the grid's 200
    assert v.details["smallest_x"] == 200 and v.n_seeds == 3
    v = verdicts.study_verdict(_table(rows), {"effect": "within", "at": 100, "tolerance": 0.02})
    assert v.verdict == "contradicted" and v.effect == pytest.approx(-0.05)
    assert v.metrics()["verdict/supported"] == 0.0 and v.tags()["verdict"] == "contradicted"


def test_max_drop_is_per_line_against_no_dropout():
    rows = [(x, line, seed, 0.8 - (0.1 if (line == 0.5 and x == 0.9) else 0.0) + 0.001 * seed)
            for line in (0.3, 0.5) for x in (0.0, 0.5, 0.9) for seed in range(3)]
    v = verdicts.study_verdict(_table(rows), {"effect": "max_drop", "reference": 0.0, "tolerance": 0.02})
    assert v.effect == pytest.approx(0.1) and v.verdict == "contradicted"
    assert (v.details["worst_x"], v.details["worst_line"]) == (0.9, 0.5)


def test_difference_is_paired_by_seed_and_one_seed_is_inconclusive():
    rows = [(n, np.nan, seed, base + (0.02 if n == 10 else 0.0))
            for seed, base in enumerate((0.6, 0.7, 0.8)) for n in (0, 10)]
    v = verdicts.study_verdict(_table(rows), {"effect": "difference", "at": 10, "reference": 0, "threshold": 0.0})
    assert v.effect == pytest.approx(0.02) and v.ci_low == pytest.approx(0.02) and v.verdict == "supported"
    one = verdicts.study_verdict(_table([r for r in rows if r[2] == 0]), {"effect": "difference", "at": 10,
                                                                         "reference": 0})
    assert one.verdict == "inconclusive"


def test_metric_verdict_and_bad_effect():
    table = pd.DataFrame({"x": np.nan, "line": np.nan, "seed": [0, 1, 2], "fp_reduction_matched/augmented": [0.4, 0.5, 0.45]})
    v = verdicts.study_verdict(table, {"effect": "metric", "metric": "fp_reduction_matched/augmented", "paper": 0.404})
    assert v.effect == pytest.approx(0.45) and v.verdict == "supported" and v.details["paper"] == 0.404
    with pytest.raises(ValueError, match="verdict effect"):
        verdicts.study_verdict(table, {"effect": "median"})


def test_every_study_preset_has_a_verdict_block():
    from experiments.figures import study_specs

    specs = study_specs()
    assert {name for name, spec in specs.items() if spec.get("verdict")} == set(specs)
    for spec in specs.values():
        assert spec["verdict"]["effect"] in verdicts.EFFECTS and spec["verdict"]["claim"]


def test_parent_run_records_the_verdict(tmp_path, store):
    from types import SimpleNamespace

    from experiments.summaries import record_verdict

    client = MlflowClient(store)
    parent = client.create_run(client.create_experiment("fig4c")).info.run_id
    runs = [SimpleNamespace(data=SimpleNamespace(params={"neighbors": str(n), "seed": str(seed)},
                                                 metrics={"auroc": 0.6 + 0.01 * seed + (0.05 if n else 0.0)}))
            for n in (0, 10) for seed in range(3)]
    spec = {"x": "neighbors", "verdict": {"claim": "4C", "effect": "difference", "at": 10, "reference": 0}}
    record_verdict(client, parent, runs, spec)
    logged = client.get_run(parent).data
    assert logged.metrics["verdict/effect"] == pytest.approx(0.05) and logged.metrics["verdict/supported"] == 1.0
    assert logged.tags["verdict"] == "supported" and logged.tags["claim"] == "4C"
    assert "+0.050" in logged.tags["verdict_line"] and "FAILED" not in logged.tags["verdict_line"]
    # a run whose model failed to learn stays in the verdict at its AUROC, and the line counts it
    runs[0].data.tags = {"trust": "failed_to_learn"}
    record_verdict(client, parent, runs, spec)
    line = client.get_run(parent).data.tags["verdict_line"]
    assert "+0.050" in line and line.endswith("(1 of 6 runs FAILED to learn: counted at their AUROC, marked x in the figure)")
