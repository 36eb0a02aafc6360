"""The GGM study (paper Fig. 1): the library's arm inputs equal its single-dataset images, its
dataset folds and FP bookkeeping (:mod:`deepdrim.context_study`) are right, and the task
(``task=fig1_ggm``) fails bad configs in one line and logs a tiny study's metrics."""
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from deepdrim.context_study import cross_validate_arms, study_metrics
from deepdrim.cv import dataset_folds
from deepdrim.images import pair_images
from deepdrim.multi_images import arm_inputs, augmented_images, dataset_pair_images, primary_images
from experiments.tasks import fig1_ggm as ggm_study
from sim.ggm import sample_ggm_study

TINY_NET = ["model.conv_filters=[4,4,4]", "model.embedding=8", "model.dense_units=[8]", "training.epochs=2",
            "training.min_epochs=0", "training.patience=1"]


def _study(seed: int, n_datasets: int = 12, n_genes: int = 4, n_cells: int = 200):
    return sample_ggm_study(n_datasets, n_genes, n_cells, seed)


@pytest.fixture()
def compose_ggm(compose):
    return lambda *overrides: compose("experiment=fig1_ggm", "scale=quick", *overrides, tiny=False)


@pytest.mark.parametrize("n_genes, n_neighbors", [(4, 1), (4, 2), (3, 1), (6, 3)])
def test_dataset_pair_images_equal_pair_images_per_dataset(n_genes, n_neighbors):
    samples = _study(n_genes, n_datasets=15, n_genes=n_genes)
    got = dataset_pair_images(samples.values, samples.dataset, samples.pairs, n_neighbors)
    want = np.concatenate([pair_images(samples.values[d], [tuple(p)], n_neighbors=n_neighbors, transform="none")
                           for d, p in zip(samples.dataset, samples.pairs)])
    assert got.shape == (30, 2 * n_neighbors + 3, 32, 32) and got.dtype == np.float32
    np.testing.assert_array_equal(got, want)


def test_arm_inputs_are_the_papers_images():
    samples = _study(0)
    inputs = arm_inputs(samples.values, samples.dataset, samples.pairs, n_neighbors=2)
    assert list(inputs) == ["primary", "augmented", "deepdrim"]
    np.testing.assert_array_equal(inputs["primary"][:, 0], primary_images(samples.values[samples.dataset],
                                                                          samples.pairs))
    np.testing.assert_array_equal(inputs["augmented"][:, 0], augmented_images(samples.values[samples.dataset],
                                                                              samples.pairs))
    assert inputs["augmented"].shape == (24, 1, 96, 96) and inputs["deepdrim"].shape == (24, 7, 32, 32)
    five = _study(0, n_genes=5)
    assert list(arm_inputs(five.values, five.dataset, five.pairs, 2)) == ["primary", "deepdrim"]  # augmented: 4 genes only


def test_dataset_folds_keep_a_datasets_pairs_together():
    fold = dataset_folds(23, 5, seed=1)
    assert sorted(np.bincount(fold).tolist()) == [4, 4, 5, 5, 5]
    assert np.array_equal(fold, dataset_folds(23, 5, seed=1))
    assert not np.array_equal(fold, dataset_folds(23, 5, seed=2))
    # the permutation cut in order: its first 5 datasets are fold 0, the last 4 fold 4
    order = np.random.default_rng(1).permutation(23)
    assert (fold[order[:5]] == 0).all() and (fold[order[-4:]] == 4).all()


def test_study_metrics_counts_false_positives_by_kind():
    predictions = pd.DataFrame({
        "label": [1, 0, 1, 0, 1, 0, 1, 0], "fold": [0, 0, 0, 0, 1, 1, 1, 1],
        "kind": ["direct", "transitive", "direct", "random", "direct", "transitive", "direct", "transitive"],
        "primary": [0.9, 0.8, 0.7, 0.6, 0.9, 0.7, 0.4, 0.55],    # FPs: t, r, t, t
        "augmented": [0.9, 0.2, 0.7, 0.6, 0.9, 0.3, 0.4, 0.55],  # FPs: r, t
        "deepdrim": [0.9, 0.1, 0.7, 0.1, 0.9, 0.1, 0.4, 0.1],    # none
    })
    m = study_metrics(predictions)
    assert (m["primary/fp"], m["primary/fp_random"], m["primary/fp_transitive"]) == (4, 1, 3)
    assert (m["augmented/fp"], m["augmented/fp_random"], m["augmented/fp_transitive"]) == (2, 1, 1)
    assert m["fp_reduction/augmented"] == pytest.approx(0.5)
    assert m["fp_reduction/augmented_transitive"] == pytest.approx(2 / 3)
    assert m["fp_reduction/deepdrim"] == pytest.approx(1.0)
    assert m["primary/auroc"] == pytest.approx(10.5 / 16) and m["deepdrim/auroc"] == pytest.approx(1.0)
    assert m["n_negative_transitive"] == 3 and m["n_negative_random"] == 1
    assert "primary/fold1/auroc" in m


@pytest.mark.parametrize("override, message", [
    ("ggm.n_genes=2", "at least 3 genes"),
    ("neighbors=3", "neighbors=3 needs at least 5 genes; the data has 4"),
    ("ggm.margin=0", "cannot be made positive definite"),
    ("ggm.edge_prob=1.0", "ggm.edge_prob"),
    ("ggm.n_cells=1", "ggm.n_cells"),
    ("ggm.n_datasets=5", "too few for 5 folds"),
])
def test_check_rejects_bad_configs_in_one_line(tmp_path, override, message, compose_ggm):
    cfg = compose_ggm(override)
    with pytest.raises(ValueError, match=message) as error:
        ggm_study.run(cfg, tmp_path / "out")
    assert "\n" not in str(error.value)
    assert not (tmp_path / "m.db").exists() and not (tmp_path / "out").exists()


def test_tiny_study_logs_its_metrics(tmp_path, compose_ggm):
    cfg = compose_ggm("ggm.n_datasets=30", "ggm.n_cells=150", "ggm.n_folds=3", *TINY_NET)
    metrics = ggm_study.run(cfg, tmp_path / "out", "seed=0")
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("fig1_ggm").experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    logged = runs[0].data.metrics
    for arm in ("primary", "augmented", "deepdrim"):
        assert 0 <= logged[f"{arm}/auroc"] <= 1
        assert logged[f"{arm}/fp"] == logged[f"{arm}/fp_random"] + logged[f"{arm}/fp_transitive"]
    for name in ("fp_reduction/augmented", "fp_reduction/augmented_transitive", "fp_reduction/deepdrim"):
        assert name in metrics
    assert runs[0].data.params["ggm.n_datasets"] == "30" and runs[0].data.params["seed"] == "0"
    assert "data.n_genes" not in runs[0].data.params  # the cv task's keys are not this study's params
    assert "model._target_" not in runs[0].data.params  # the shipped estimator is no param
    artifacts = {a.path for a in client.list_artifacts(runs[0].info.run_id)}
    assert {"config.yaml", "predictions.csv", "roc.png", "pr.png"} <= artifacts
    predictions = pd.read_csv(tmp_path / "out" / "predictions.csv")
    assert len(predictions) == 60 and predictions[["primary", "augmented", "deepdrim"]].notna().all().all()
    # the same configuration again is skipped: still one run
    ggm_study.run(cfg, tmp_path / "again", "seed=0")
    assert len(client.search_runs([runs[0].info.experiment_id])) == 1


class ImageMean:
    """A user's own estimator for the GGM arms: scores a sample by its first image's mean (no training)."""

    built: list = []

    def __init__(self, **params):
        ImageMean.built.append(params)

    def fit_images(self, x, y, groups=None):
        return self

    def predict_proba_images(self, x):
        score = x[:, 0].mean(axis=(1, 2)) / (1e-9 + x[:, 0].mean(axis=(1, 2)).max())
        return np.column_stack([1 - score, score])


def test_the_study_trains_a_users_own_model_target(tmp_path, compose_ggm):
    ImageMean.built.clear()
    cfg = compose_ggm("ggm.n_datasets=12", "ggm.n_cells=100", "ggm.n_folds=2",
                      "model._target_=tests.test_ggm_study.ImageMean")
    metrics = ggm_study.run(cfg, tmp_path / "out", "seed=0")
    assert len(ImageMean.built) == 3 * 2  # three arms x two folds, each with the arm's neighbors
    assert sorted({params["n_neighbors"] for params in ImageMean.built}) == [0, int(cfg.neighbors)]
    assert 0 <= metrics["deepdrim/auroc"] <= 1
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run, = client.search_runs([client.get_experiment_by_name("fig1_ggm").experiment_id])
    assert run.data.params["model._target_"] == "tests.test_ggm_study.ImageMean"


@pytest.mark.parametrize("min_epochs, expected_best", [(0, 0), (3, 2)])
def test_ggm_study_never_keeps_a_plateau_epoch_before_min_epochs(monkeypatch, min_epochs, expected_best):
    """Validation scripted per fit: epoch 0 scores perfectly (a plateau fluke), later epochs badly.
    Every arm trains through the estimator, so epochs before min_epochs cannot be the best."""
    from deepdrim import DeepDRIM, training

    real_train = training.TableTrainer.train_epoch

    def train_epoch(self, pairs, labels, batch_size):
        self.labels, self.calls = labels, getattr(self, "calls", 0)
        return real_train(self, pairs, labels, batch_size)

    def score(self, pairs, chunk=4096):
        self.calls += 1
        y = self.labels[pairs]
        return np.where(y == 1, 0.99, 0.01) if self.calls == 1 else np.where(y == 1, 0.3, 0.7)

    best = []
    real_fit = DeepDRIM.fit_images

    def fit_images(self, *args, **kwargs):
        out = real_fit(self, *args, **kwargs)
        best.append(out.best_epoch_)
        return out

    monkeypatch.setattr(training.TableTrainer, "train_epoch", train_epoch)
    monkeypatch.setattr(training.TableTrainer, "score", score)
    monkeypatch.setattr(DeepDRIM, "fit_images", fit_images)
    samples = _study(0, n_datasets=40, n_cells=100)
    params = dict(conv_filters=(4, 4, 4), embedding=8, dense_units=(8,), optimizer="adam", monitor="val_loss",
                  epochs=4, min_epochs=min_epochs, patience=5)
    frame = cross_validate_arms(samples.values, samples.dataset, samples.pairs, samples.labels, samples.kinds,
                                n_neighbors=2, n_folds=2, seed=0, estimator_params=params, progress=False)
    assert best == [expected_best] * 6  # 3 arms x 2 folds
    assert list(frame.columns) == ["dataset", "gene_a", "gene_b", "label", "kind", "fold", "primary", "augmented",
                                   "deepdrim"]
    assert frame[["primary", "augmented", "deepdrim"]].notna().all().all()
    assert (frame.groupby("dataset").fold.nunique() == 1).all()  # a dataset's two pairs share their fold


# ------------------------------------------------------------------ neighbor rule, matched-sensitivity FPs
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
    m = study_metrics(frame, sensitivity=0.8)
    assert m["primary/fp"] == 3 and m["augmented/fp"] == 0  # at 0.5 the augmented arm is just lower
    assert (m["primary/fp_matched"], m["primary/fp_matched_transitive"], m["primary/fp_matched_random"]) == (3, 2, 1)
    assert (m["augmented/fp_matched"], m["augmented/fp_matched_transitive"]) == (1, 1)
    assert m["fp_reduction_matched/augmented"] == pytest.approx(1 - 1 / 3)
    assert m["fp_reduction_matched/augmented_transitive"] == pytest.approx(0.5)
    assert m["primary/auroc_transitive"] == pytest.approx(np.mean([[p > n for n in primary[[5, 6, 9]]]
                                                                   for p in primary[:5]]))


def test_ggm_config_checks_sensitivity_and_rule():
    from experiments.config import ggm
    from tests.conftest import compose_config

    for override, message in (("ggm.sensitivity=1.5", "ggm.sensitivity"), ("ggm.neighbor_rule=signed", "neighbor_rule")):
        with pytest.raises(ValueError, match=message):
            ggm.check(compose_config("experiment=fig1_ggm", override))
