"""The model and data groups point into the library with ``_target_``: every option of ``conf/`` names
a callable that takes its keys, and a job builds what its group names."""
import inspect

import pytest
from hydra.utils import get_class, get_method

from deepdrim.data import Dataset
from experiments.config import data as job_data
from experiments.config.method import estimator, estimator_params
from experiments.tracking import job_runs
from sim.grn import simulate_grn
from sim.sergio import simulate_sergio
from tests.conftest import ROOT, TINY_SIM

DATA_OPTIONS = sorted(p.stem for p in (ROOT / "conf" / "data").glob("*.yaml"))
MODEL_OPTIONS = sorted(p.stem for p in (ROOT / "conf" / "model").glob("*.yaml"))
SIMULATORS = {"sim.grn.grn_dataset": simulate_grn, "sim.sergio.sergio_dataset": simulate_sergio}


@pytest.mark.parametrize("option", DATA_OPTIONS)
def test_every_data_option_names_a_callable_that_takes_its_keys(config, option):
    data = config(f"data={option}").data
    call = get_method(data._target_)
    params = inspect.signature(call).parameters
    keys = [key for key in data if key not in ("_target_", "kind")]
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):  # a simulation's dataset: the rest go to the simulator
        params = {**params, **inspect.signature(SIMULATORS[data._target_]).parameters}
    assert "random_state" in params
    assert [key for key in keys if key not in params] == []


@pytest.mark.parametrize("option", ["sim", "template", "tf_network"])
def test_a_simulated_data_option_builds_the_data_object_with_pairs(config, option):
    sizes = [f"data.{k}={v}" for k, v in TINY_SIM.items() if k != "kind"]
    data = job_data.load(dict(config(f"data={option}", *sizes).data), seed=1)
    assert isinstance(data, Dataset) and data.expression.shape == (TINY_SIM["n_cells"], TINY_SIM["n_genes"])
    assert set(data.pairs.labels) == {0, 1}
    again = job_data.load({k: v for k, v in TINY_SIM.items()}, seed=1)  # no _target_: the kind's option's
    assert (again.pairs.pairs == data.pairs.pairs).all()


def test_a_data_key_its_target_does_not_take_is_one_line(config):
    with pytest.raises(ValueError, match="data=sim has no key 'colour'"):
        job_data.load({**TINY_SIM, "colour": "red"}, seed=0)
    with pytest.raises(ValueError, match="data._target_=sim.grn.nothing"):
        job_data.load({**TINY_SIM, "_target_": "sim.grn.nothing"}, seed=0)


@pytest.mark.parametrize("option", MODEL_OPTIONS)
def test_every_model_option_builds_its_target_with_the_model_and_training_parameters(config, option):
    cfg = config(f"model={option}", "seed=7")
    model = estimator(cfg)
    assert isinstance(model, get_class(cfg.model._target_))
    assert model.get_params() == estimator_params(cfg)
    assert model.random_state == 7 and estimator(cfg, n_neighbors=0).n_neighbors == 0


def test_a_shipped_target_is_neither_a_param_nor_part_of_the_hash_but_a_users_own_is(config):
    from omegaconf import OmegaConf

    shipped, own = config(), config("model._target_=tests.test_cv_job.Recorder")
    resolved = [OmegaConf.to_container(c, resolve=True) for c in (shipped, own)]
    assert "model._target_" not in job_runs.job_params(shipped, resolved[0])
    assert job_runs.job_params(own, resolved[1])["model._target_"] == "tests.test_cv_job.Recorder"
    assert job_runs.config_hash(resolved[0]) != job_runs.config_hash(resolved[1])
    assert type(estimator(own)).__name__ == "Recorder"


def test_a_target_that_does_not_import_is_one_line_before_anything_runs(config):
    from experiments.config import checks

    with pytest.raises(ValueError, match=r"^model._target_=nowhere.Nothing: "):
        checks.check_config(config("model._target_=nowhere.Nothing"))
    with pytest.raises(ValueError, match=r"^data._target_=numpy.pi is not a class or function$"):
        checks.check_config(config("data._target_=numpy.pi"))
    checks.check_config(config("model._target_=tests.test_cv_job.Recorder"))  # a user's own class: fine
