"""The scikit-learn style estimator: params, fitting, determinism, best weights, validation."""
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from deepdrim import DeepDRIM
from deepdrim.cv import tf_validation_split
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
    probs = model.predict_proba(pairs.pairs[:7])
    assert probs.shape == (7,) and np.all((probs >= 0) & (probs <= 1))
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
    model = tiny(epochs=8, learning_rate=0.02, optimizer="adam", patience=20)
    model.fit(data.counts, pairs.pairs, pairs.labels)
    losses = model.history_["val_loss"]
    assert model.best_epoch_ == int(np.nanargmin(losses))
    assert model.best_epoch_ != len(losses) - 1  # the case that matters happened
    train, val = tf_validation_split(pairs.pairs, pairs.labels, model.validation_fraction, model.random_state)
    probs = np.clip(model.predict_proba(pairs.pairs[val]), 1e-7, 1 - 1e-7)
    y = pairs.labels[val]
    loss = -np.mean(y * np.log(probs) + (1 - y) * np.log(1 - probs))
    assert loss == pytest.approx(losses[model.best_epoch_], rel=1e-4)


def test_early_stopping_stops(tiny_dataset):
    data, pairs = tiny_dataset
    model = tiny(epochs=30, patience=0, learning_rate=0.05, optimizer="adam")
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
    model = tiny(epochs=30, patience=0, min_epochs=6, learning_rate=0.05, optimizer="adam")
    model.fit(data.counts, pairs.pairs, pairs.labels)
    assert 6 <= len(model.history_["loss"]) < 30


@pytest.mark.parametrize("min_epochs, expected_best", [(0, 0), (3, 4)])
def test_best_epoch_is_chosen_from_min_epochs_on(min_epochs, expected_best):
    # scripted validation scores: epoch 0 is the luckiest (AUROC 1.0, a plateau fluke), epoch 4
    # the best once the plateau epochs 0..min_epochs-2 are excluded
    import keras

    from deepdrim.estimator import _EpochMonitor

    labels = np.array([0, 1, 0, 1])
    good, bad, mid = [0.1, 0.9, 0.2, 0.8], [0.9, 0.1, 0.8, 0.2], [0.1, 0.9, 0.95, 0.8]
    scores = iter(np.array(p) for p in [good, bad, bad, bad, mid, bad])
    estimator = DeepDRIM(epochs=6, min_epochs=min_epochs, patience=10, monitor="val_auroc")
    estimator._predict_pairs = lambda model, builder, pairs: next(scores)
    monitor = _EpochMonitor(estimator, None, np.zeros((4, 2), dtype=np.int64), labels, None)
    monitor.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    for epoch in range(6):
        monitor.on_epoch_end(epoch, {"loss": 0.69})
    assert monitor.best_epoch == expected_best
