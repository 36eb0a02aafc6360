"""The scikit-learn style estimator: params, fitting, determinism, best weights, validation."""
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from deepdrim import DeepDRIM
from deepdrim.cv import MIN_VALIDATION_TFS, tf_validation_split
from tests.conftest import TINY_MODEL


def tiny(**kwargs):
    params = dict(n_neighbors=1, epochs=3, batch_size=16, patience=10, random_state=0, **TINY_MODEL)
    params.update(kwargs)
    return DeepDRIM(**params)


def test_get_set_params_and_clone():
    model = tiny()
    assert model.get_params()["n_neighbors"] == 1
    model.set_params(n_neighbors=3, learning_rate=0.1)
    assert model.n_neighbors == 3 and clone(model).learning_rate == 0.1
    defaults = DeepDRIM().get_params()
    assert (defaults["epochs"], defaults["batch_size"], defaults["learning_rate"], defaults["patience"]) == \
        (200, 32, 0.01, 10)


def test_predict_before_fit_says_what_to_do():
    with pytest.raises(NotFittedError, match="call fit"):
        tiny().predict_proba([[0, 1]])


def test_fit_predict_shapes_and_history(tiny_dataset):
    data, pairs = tiny_dataset
    model = tiny().fit(data.counts, pairs.pairs, pairs.labels)
    proba = model.predict_proba(pairs.pairs[:7])
    assert proba.shape == (7, 2) and np.allclose(proba.sum(axis=1), 1.0)
    probs = proba[:, 1]
    assert np.all((probs >= 0) & (probs <= 1))
    assert set(model.history_) == {"loss", "val_loss", "val_auroc", "val_auprc"}
    assert len(model.history_["loss"]) == 3
    np.testing.assert_array_equal(model.predict(pairs.pairs[:7]), (probs >= 0.5).astype(int))


def test_same_random_state_same_predictions(tiny_dataset):
    data, pairs = tiny_dataset
    a = tiny().fit(data.counts, pairs.pairs, pairs.labels).predict_proba(pairs.pairs)
    b = tiny().fit(data.counts, pairs.pairs, pairs.labels).predict_proba(pairs.pairs)
    np.testing.assert_array_equal(a, b)


def test_restores_best_epoch_not_last(tiny_dataset):
    """The reference tested with the last-epoch model; we keep the best validation epoch."""
    data, pairs = tiny_dataset
    model = tiny(epochs=8, learning_rate=0.02, optimizer="adam", patience=20, validation_fraction=0.7)  # 4 of 6 TFs
    model.fit(data.counts, pairs.pairs, pairs.labels)
    losses = model.history_["val_loss"]
    assert model.best_epoch_ == int(np.nanargmin(losses))
    assert model.best_epoch_ != len(losses) - 1  # the case that matters happened
    train, val = tf_validation_split(pairs.pairs, pairs.labels, model.validation_fraction, model.random_state,
                                     min_val_tfs=MIN_VALIDATION_TFS)
    probs = np.clip(model.predict_proba(pairs.pairs[val])[:, 1], 1e-7, 1 - 1e-7)
    y = pairs.labels[val]
    loss = -np.mean(y * np.log(probs) + (1 - y) * np.log(1 - probs))
    assert loss == pytest.approx(losses[model.best_epoch_], rel=1e-4)


def test_early_stopping_stops(tiny_dataset):
    data, pairs = tiny_dataset
    model = tiny(epochs=30, patience=0, learning_rate=0.05, optimizer="adam", validation_fraction=0.7)
    model.fit(data.counts, pairs.pairs, pairs.labels)
    assert len(model.history_["loss"]) < 30


def test_epoch_callback_sees_every_epoch(tiny_dataset):
    data, pairs = tiny_dataset
    seen = []
    tiny(epochs=2).fit(data.counts, pairs.pairs, pairs.labels, epoch_callback=lambda e, logs: seen.append((e, logs)))
    assert [e for e, _ in seen] == [0, 1]
    assert {"loss", "val_loss", "val_auroc", "val_auprc"} <= set(seen[0][1])


def test_save_load_round_trip(tiny_dataset, tmp_path):
    data, pairs = tiny_dataset
    model = tiny(epochs=1).fit(data.expression, pairs.pairs, pairs.labels)
    model.save(tmp_path / "model")
    loaded = DeepDRIM.load(tmp_path / "model", expression=data.expression)
    np.testing.assert_allclose(loaded.predict_proba(pairs.pairs), model.predict_proba(pairs.pairs), atol=1e-6)
    with pytest.raises(ValueError, match="not a saved DeepDRIM model"):
        DeepDRIM.load(tmp_path)
    with pytest.raises(ValueError, match="other genes"):
        DeepDRIM.load(tmp_path / "model", expression=data.expression.iloc[:, :-1])


@pytest.mark.parametrize("labels, message", [
    ("short", "length"),
    ("three", "0 or 1"),
    ("single", "single class"),
])
def test_label_validation(tiny_dataset, labels, message):
    data, pairs = tiny_dataset
    y = {"short": pairs.labels[:-1], "three": np.where(pairs.labels == 1, 2, 0),
         "single": np.ones_like(pairs.labels)}[labels]
    with pytest.raises(ValueError, match=message):
        tiny().fit(data.counts, pairs.pairs, y)


@pytest.mark.parametrize("params, message", [
    ({"epochs": 0}, "epochs"), ({"optimizer": "rmsprop"}, "optimizer"), ({"monitor": "acc"}, "monitor"),
    ({"n_neighbors": 40}, "genes"),
])
def test_param_validation(tiny_dataset, params, message):
    data, pairs = tiny_dataset
    with pytest.raises(ValueError, match=message):
        tiny(**params).fit(data.counts, pairs.pairs, pairs.labels)


def test_min_epochs_holds_off_early_stopping(tiny_dataset):
    data, pairs = tiny_dataset
    model = tiny(epochs=30, patience=0, min_epochs=6, learning_rate=0.05, optimizer="adam", validation_fraction=0.7)
    model.fit(data.counts, pairs.pairs, pairs.labels)
    assert 6 <= len(model.history_["loss"]) < 30


@pytest.mark.parametrize("min_epochs, expected_best", [(0, 0), (3, 4)])
def test_best_epoch_is_chosen_from_min_epochs_on(min_epochs, expected_best):
    # scripted validation scores: epoch 0 is the luckiest (AUROC 1.0, a plateau fluke), epoch 4
    # the best once the plateau epochs 0..min_epochs-2 are excluded
    from deepdrim.training import BestEpoch

    aurocs = [1.0, 0.0, 0.0, 0.0, 0.75, 0.0]
    tracker = BestEpoch("val_auroc", patience=10, min_epochs=min_epochs, epochs=6)
    for epoch, value in enumerate(aurocs):
        tracker.update(epoch, {"val_auroc": value})
    assert tracker.best_epoch == expected_best


def test_predict_proba_per_gene_embeddings_equal_the_per_pair_network(tiny_dataset):
    """Scores from per-gene neighbor embeddings = the Keras model on each pair's full image tensor."""
    from deepdrim.images import pair_images

    data, pairs = tiny_dataset
    model = tiny(n_neighbors=3, epochs=2, precision="float32").fit(data.counts, pairs.pairs, pairs.labels)
    candidates = np.array([(tf, g) for tf in range(6) for g in range(30) if g != tf])
    images = pair_images(data.counts, candidates, n_neighbors=3)
    per_pair = model.model_.predict(images, batch_size=64, verbose=0).ravel()
    shared = model.predict_proba(candidates)[:, 1]
    assert np.abs(shared - per_pair).max() <= 1e-5
    chunked = np.concatenate([model.predict_proba(part)[:, 1] for part in np.array_split(candidates, 3)])
    # the kept embeddings do not change later calls; a chunk's head runs at another batch size, which
    # oneDNN may round differently in the last float32 bit (seen: 6e-8 on an AMD EPYC, 0 on AMX)
    np.testing.assert_allclose(chunked, shared, rtol=0, atol=1e-6)


def test_fit_leaves_process_state_as_it_found_it(tiny_dataset):
    import random

    from tensorflow.python.framework import config as tf_config

    data, pairs = tiny_dataset
    np.random.seed(123)
    random.seed(123)
    expected = np.random.get_state()[1].copy(), random.getstate()
    tiny(epochs=1).fit(data.counts, pairs.pairs, pairs.labels)
    assert not tf_config.is_op_determinism_enabled()
    np.testing.assert_array_equal(np.random.get_state()[1], expected[0])
    assert random.getstate() == expected[1]


def test_fit_images_trains_on_ready_tensors(tiny_dataset):
    from deepdrim.images import pair_images

    data, pairs = tiny_dataset
    images = pair_images(data.counts, pairs.pairs, n_neighbors=1)
    model = tiny(precision="float32").fit_images(images, pairs.labels, groups=pairs.pairs[:, 0])
    by_pairs = tiny(precision="float32").fit(data.counts, pairs.pairs, pairs.labels)
    # the same images, split and seed: the same training (float32: bfloat16 rounding depends on
    # how many distinct images a batch embeds, which differs between the two tables)
    np.testing.assert_allclose(model.history_["val_auroc"], by_pairs.history_["val_auroc"], atol=1e-6)
    proba = model.predict_proba_images(images[:5])
    assert proba.shape == (5, 2)
    with pytest.raises(ValueError, match="images must have shape"):
        tiny().fit_images(images[:, :1], pairs.labels, groups=pairs.pairs[:, 0])


# ------------------------------------------------------------------ model selection on >= 4 validation TFs
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
