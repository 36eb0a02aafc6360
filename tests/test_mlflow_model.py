"""A trained DeepDRIM logged as an MLflow pyfunc model scores like DeepDRIM.load, by gene names."""
import numpy as np
import pandas as pd
import pytest

from tests.conftest import TINY_MODEL


@pytest.fixture(scope="module")
def fitted(tiny_dataset):
    from deepdrim.estimator import DeepDRIM

    data, pairs = tiny_dataset
    est = DeepDRIM(n_neighbors=2, epochs=1, random_state=0, **TINY_MODEL)
    return est.fit(data.expression, pairs.pairs, pairs.labels)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One sqlite store for the module (creating one runs MLflow's migrations: seconds)."""
    import mlflow

    root = tmp_path_factory.mktemp("store")
    mlflow.set_tracking_uri(f"sqlite:///{root / 'm.db'}")
    experiment = mlflow.create_experiment("models", artifact_location=(root / "art").as_uri())
    yield experiment
    mlflow.set_tracking_uri(None)


def test_pyfunc_scores_equal_deepdrim_load(fitted, tiny_dataset, store, tmp_path):
    import mlflow

    from deepdrim.estimator import DeepDRIM
    from deepdrim.evaluation import link_probabilities
    from experiments.tracking.mlflow_model import SIGNATURE, log_deepdrim_model, resolve_model_path

    data, pairs = tiny_dataset
    with mlflow.start_run(experiment_id=store) as run:
        info = log_deepdrim_model(fitted, data.expression, registered_model_name="deepdrim-tiny")
    assert info.run_id == run.info.run_id and info.name == "model"
    assert info.signature == SIGNATURE and info.metadata["genes"] == data.expression.shape[1]

    genes = np.asarray(data.expression.columns)
    table = pd.DataFrame({"tf": genes[pairs.pairs[:, 0]], "target": genes[pairs.pairs[:, 1]]})
    scored = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model").predict(table)
    assert list(scored.columns) == ["probability"] and len(scored) == len(table)

    folder = resolve_model_path(f"runs:/{run.info.run_id}/model", dst_path=tmp_path / "dl")
    expected = link_probabilities(DeepDRIM.load(folder, expression=data.expression).predict_proba(pairs.pairs))
    np.testing.assert_allclose(scored["probability"].to_numpy(), expected, rtol=1e-6)
    assert not np.allclose(expected, expected[0])  # a real ranking, not a constant

    # the registry version resolves to the same folder content, and a local folder passes through
    registered = resolve_model_path("models:/deepdrim-tiny/1", dst_path=tmp_path / "reg")
    assert (registered / "deepdrim.json").read_text() == (folder / "deepdrim.json").read_text()
    assert resolve_model_path(folder) == folder
    assert resolve_model_path(folder.name, base=folder.parent) == folder


def test_pyfunc_rejects_unknown_genes(fitted, tiny_dataset, store):
    import mlflow

    from experiments.tracking.mlflow_model import log_deepdrim_model

    data, _ = tiny_dataset
    with mlflow.start_run(experiment_id=store):
        info = log_deepdrim_model(fitted, data.expression)
    model = mlflow.pyfunc.load_model(info.model_uri)
    gene = str(data.expression.columns[0])
    with pytest.raises(Exception, match="not in the model's expression"):
        model.predict(pd.DataFrame({"tf": [gene], "target": ["NO_SUCH_GENE"]}))




def test_log_rejects_other_genes(fitted, tiny_dataset):
    from experiments.tracking.mlflow_model import log_deepdrim_model

    data, _ = tiny_dataset
    with pytest.raises(ValueError, match="differ"):
        log_deepdrim_model(fitted, data.expression.iloc[:, ::-1])
    with pytest.raises(TypeError, match="expression"):
        log_deepdrim_model(fitted, data.expression.to_numpy())


def test_resolve_bad_uri_is_one_line(store):
    from experiments.tracking.mlflow_model import resolve_model_path

    with pytest.raises(ValueError, match="cannot download"):
        resolve_model_path("runs:/0123456789abcdef/model")


@pytest.mark.slow
def test_loads_in_a_fresh_process_without_the_project(fitted, tiny_dataset, store, tmp_path):
    """The model carries its wrapper (pickled by value) and the deepdrim package (code_paths)."""
    import os
    import subprocess
    import sys

    import mlflow

    from deepdrim.evaluation import link_probabilities
    from experiments.tracking.mlflow_model import log_deepdrim_model

    data, pairs = tiny_dataset
    with mlflow.start_run(experiment_id=store) as run:
        log_deepdrim_model(fitted, data.expression)
    genes = np.asarray(data.expression.columns)
    pd.DataFrame({"tf": genes[pairs.pairs[:10, 0]], "target": genes[pairs.pairs[:10, 1]]}).to_csv(
        tmp_path / "pairs.csv", index=False)
    script = (
        "import sys, mlflow, pandas as pd\n"
        f"mlflow.set_tracking_uri({mlflow.get_tracking_uri()!r})\n"
        f"model = mlflow.pyfunc.load_model('runs:/{run.info.run_id}/model')\n"
        "import deepdrim\n"
        "print('DEEPDRIM', deepdrim.__file__, 'EXPERIMENTS', 'experiments' in sys.modules)\n"
        "print('SCORES', ' '.join(map(repr, model.predict(pd.read_csv('pairs.csv'))['probability'])))\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines() if line.startswith(("DEEPDRIM", "SCORES")))
    assert "/code/deepdrim/" in lines["DEEPDRIM"] and lines["DEEPDRIM"].endswith("EXPERIMENTS False")
    scores = np.array([float(s) for s in lines["SCORES"].split()])
    np.testing.assert_allclose(scores, link_probabilities(fitted.predict_proba(pairs.pairs[:10])), rtol=1e-6)
