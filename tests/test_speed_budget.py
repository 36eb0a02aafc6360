"""The training budget for large data: steps per epoch and a capped validation sample."""
import numpy as np
import pytest

import deepdrim.training as training
from deepdrim import DeepDRIM
from tests.conftest import TINY_MODEL


def tiny(**kwargs):
    params = dict(n_neighbors=1, epochs=3, batch_size=16, patience=10, random_state=0, optimizer="adam",
                  learning_rate=0.02, validation_fraction=0.7, **TINY_MODEL)
    params.update(kwargs)
    return DeepDRIM(**params)


def test_budgets_that_do_not_bind_change_nothing(tiny_dataset):
    """Data smaller than the budgets (the default job's data) trains exactly as without them."""
    data, pairs = tiny_dataset
    free = tiny().fit(data.counts, pairs.pairs, pairs.labels)
    capped = tiny(steps_per_epoch=10_000, max_validation_pairs=10_000).fit(data.counts, pairs.pairs, pairs.labels)
    np.testing.assert_array_equal(free.history_["val_auroc"], capped.history_["val_auroc"])
    np.testing.assert_array_equal(free.predict_proba(pairs.pairs), capped.predict_proba(pairs.pairs))
    assert free.n_samples_trained_ == capped.n_samples_trained_ > 0


def test_steps_per_epoch_caps_the_pairs_each_epoch_trains(tiny_dataset, monkeypatch):
    data, pairs = tiny_dataset
    seen = []
    train_epoch = training.TableTrainer.train_epoch
    monkeypatch.setattr(training.TableTrainer, "train_epoch",
                        lambda self, order, labels, batch_size: seen.append(order.copy()) or train_epoch(
                            self, order, labels, batch_size))
    model = tiny(steps_per_epoch=2).fit(data.counts, pairs.pairs, pairs.labels)
    assert [len(order) for order in seen] == [32, 32, 32]  # 2 batches of 16, each epoch
    assert model.n_samples_trained_ == 96
    assert len({tuple(order) for order in seen}) == 3  # another random subset every epoch
    assert all(len(np.unique(order)) == len(order) for order in seen)


def test_validation_sample_is_capped_and_fixed(tiny_dataset, monkeypatch):
    data, pairs = tiny_dataset
    scored = []
    score = training.TableTrainer.score
    monkeypatch.setattr(training.TableTrainer, "score", lambda self, val: scored.append(val.copy()) or score(self, val))
    tiny().fit(data.counts, pairs.pairs, pairs.labels)
    full = len(scored[0])
    scored.clear()
    tiny(max_validation_pairs=full // 2).fit(data.counts, pairs.pairs, pairs.labels)
    assert len(scored) == 3 and all(len(val) == full // 2 for val in scored)
    assert all(np.array_equal(val, scored[0]) for val in scored)  # the same sample every epoch


@pytest.mark.parametrize("name", ["steps_per_epoch", "max_validation_pairs"])
def test_budgets_must_be_positive_integers(tiny_dataset, name):
    data, pairs = tiny_dataset
    with pytest.raises(ValueError, match=name):
        tiny(**{name: 0}).fit(data.counts, pairs.pairs, pairs.labels)


def test_skipping_plateau_validation_fits_the_same_model(tiny_dataset):
    data, pairs = tiny_dataset
    every = tiny(epochs=5, min_epochs=3).fit(data.counts, pairs.pairs, pairs.labels)
    skipped = tiny(epochs=5, min_epochs=3, plateau_validation=False).fit(data.counts, pairs.pairs, pairs.labels)
    assert np.isnan(skipped.history_["val_auroc"][:2]).all()  # epochs 1 and 2 of 5: before min_epochs
    np.testing.assert_array_equal(skipped.history_["val_auroc"][2:], every.history_["val_auroc"][2:])
    assert skipped.best_epoch_ == every.best_epoch_
    np.testing.assert_array_equal(skipped.predict_proba(pairs.pairs), every.predict_proba(pairs.pairs))


@pytest.mark.parametrize("override, message", [
    ({"steps_per_epoch": 0}, "training.steps_per_epoch must be an integer >= 1"),
    ({"max_validation_pairs": "many"}, "training.max_validation_pairs must be an integer >= 1"),
    ({"plateau_validation": "maybe"}, "training.plateau_validation must be true or false"),
])
def test_config_checks_name_a_bad_budget(override, message, tmp_path):
    from experiments.config.checks import check_config

    tracking = {"uri": f"sqlite:///{tmp_path}/mlflow.db"}
    config = {"training": {"steps_per_epoch": 32, "max_validation_pairs": 2048, "plateau_validation": False},
              "tracking": tracking}
    config["training"].update(override)
    with pytest.raises(ValueError, match=message):
        check_config(config)
    check_config({"training": {"steps_per_epoch": None, "max_validation_pairs": None, "plateau_validation": True},
                  "tracking": tracking})
