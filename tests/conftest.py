"""Shared test inputs: the one tiny configuration (composed with Hydra like ``run.py`` does), a
migrated empty MLflow store, ``run.py`` in a subprocess and seeded tiny data. Seeded, small enough
for a 2-core CI. Subprocess and end-to-end tests are marked ``slow``: ``pytest -m "not slow"`` is
the quick loop, a plain ``pytest`` (``make test``, CI) runs everything."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY_MODEL = dict(conv_filters=(4, 4, 4), embedding=8, dense_units=(8, 4), conv_dropout=0.0, dense_dropout=0.0)
#: the tiny simulation as a ``data`` config
TINY_SIM = dict(kind="sim", n_tfs=6, n_genes=30, n_cells=120, n_master=2)
#: the tiny configuration as command-line overrides: a job runs in seconds
TINY = [*(f"data.{k}={v}" for k, v in TINY_SIM.items() if k != "kind"), "cv.n_folds=2",
        "model.conv_filters=[4,4,4]", "model.embedding=8", "model.dense_units=[8,4]",
        "training.epochs=1", "training.min_epochs=0"]



def benchmark(name: str):
    """The script ``benchmarks/<name>.py`` as a module (benchmarks/ is a folder of scripts, not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look a module up by name
    spec.loader.exec_module(module)
    return module


def stand_in_for_deepdrim(monkeypatch, cls) -> None:
    """The cv job (and a search's trials) build ``cls`` with the job's estimator parameters where the
    model group's target, DeepDRIM, would be built."""
    from experiments.config import method

    monkeypatch.setattr(method, "estimator", lambda cfg, **changes: cls(**{**method.estimator_params(cfg), **changes}))


def store_overrides(root: Path) -> list:
    """Overrides that send a job's store, outputs and multirun folders under ``root``."""
    return [f"tracking.uri=sqlite:///{root / 'mlflow.db'}", f"paths.outputs={root / 'outputs'}",
            f"paths.multirun={root / 'multirun'}"]


def free_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]

def compose_config(*overrides, hydra: bool = False):
    """``conf/config.yaml`` composed with ``overrides`` as ``python run.py <overrides>`` would."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=hydra)


@pytest.fixture(scope="session")
def config():
    """``config(*overrides, hydra=False)``: :func:`compose_config`, as a fixture."""
    return compose_config


@pytest.fixture(scope="session")
def tiny_sim():
    """The tiny simulation as a ``data`` config (a new dict per use)."""
    return dict(TINY_SIM)


@pytest.fixture(scope="session")
def tiny():
    """The tiny overrides (a new list per use)."""
    return list(TINY)


@pytest.fixture()
def store(tmp_path, empty_store):
    """A fresh empty MLflow store at ``tmp_path / "mlflow.db"``; returns its URI."""
    shutil.copy(empty_store, tmp_path / "mlflow.db")
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.fixture()
def compose(tmp_path):
    """``compose(*overrides)``: the tiny config logging into ``tmp_path / "mlflow.db"`` plus ``overrides``
    (``tiny=False`` leaves the tiny sizes out)."""
    def make(*overrides, tiny: bool = True):
        return compose_config(*(TINY if tiny else []), f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
                              *overrides)

    return make


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory):
    """A migrated MLflow sqlite store without runs: creating one costs ~10 s, copying it nothing."""
    from mlflow.tracking import MlflowClient

    db = tmp_path_factory.mktemp("store") / "mlflow.db"
    MlflowClient(f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture()
def run_py(tmp_path):
    """``run_py(*args, timeout=600)``: ``python run.py <args>`` from ``tmp_path``, output captured."""
    def call(*args, timeout: int = 600, cwd=None):
        return subprocess.run([sys.executable, str(ROOT / "run.py"), *map(str, args)], cwd=cwd or tmp_path,
                              capture_output=True, text=True, timeout=timeout)

    return call


@pytest.fixture(scope="session")
def tiny_dataset():
    """A small GRN simulation and its balanced labelled pairs."""
    from deepdrim.pairs import labelled_pairs
    from sim.grn import simulate_grn

    data = simulate_grn(n_tfs=6, n_genes=30, n_cells=120, n_master=2, random_state=0)
    pairs = labelled_pairs(data.tfs, data.gene_names, data.edge_names, random_state=0)
    return data, pairs


@pytest.fixture()
def rng():
    return np.random.default_rng(0)
