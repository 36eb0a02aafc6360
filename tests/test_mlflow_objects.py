"""MLflow objects of a run: its input dataset (log_input) and its experiment's UI kind."""
import json

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """One sqlite store for the module (creating one runs MLflow's migrations: seconds)."""
    import mlflow

    uri = f"sqlite:///{tmp_path_factory.mktemp('store') / 'm.db'}"
    mlflow.set_tracking_uri(uri)
    yield MlflowClient(uri)
    mlflow.set_tracking_uri(None)


def _expression(seed=0, cells=12, genes=5):
    values = np.random.default_rng(seed).poisson(3.0, (cells, genes)).astype(float)
    return pd.DataFrame(values, columns=[f"g{i}" for i in range(genes)])


def test_run_inputs_show_the_simulated_dataset(client, tmp_path):
    import mlflow

    from experiments.tracking.mlflow_dataset import SIMULATOR, job_source, log_expression_dataset

    experiment = client.create_experiment("data", artifact_location=(tmp_path / "a").as_uri())
    expression = _expression()
    source = job_source({"kind": "sim", "n_tfs": 6, "n_genes": 5, "negatives": "balanced"}, seed=3)
    with mlflow.start_run(experiment_id=experiment) as run:
        logged = log_expression_dataset(expression, source)
    inputs = client.get_run(run.info.run_id).inputs.dataset_inputs
    assert len(inputs) == 1
    dataset = inputs[0].dataset
    assert dataset.name == "sim" and dataset.digest == logged.digest and len(dataset.digest) == 16
    assert json.loads(dataset.profile) == {"cells": 12, "genes": 5}
    assert dataset.source_type == "code"
    tags = json.loads(dataset.source)["tags"]
    assert tags["generator"] == SIMULATOR and json.loads(tags["config"]) == {"kind": "sim", "n_tfs": 6,
                                                                              "n_genes": 5, "seed": 3}
    assert {t.key: t.value for t in inputs[0].tags}["mlflow.data.context"] == "training"


def test_file_source_and_digest_follow_the_values(client, tmp_path):
    import mlflow

    from experiments.tracking.mlflow_dataset import expression_digest, job_source, log_expression_dataset

    data_file = tmp_path / "ExpressionData.csv"
    data_file.write_text("x\n")
    experiment = client.create_experiment("files", artifact_location=(tmp_path / "a").as_uri())
    with mlflow.start_run(experiment_id=experiment) as run:
        log_expression_dataset(_expression(), job_source({"kind": "beeline", "path": str(data_file)}, 0))
    dataset = client.get_run(run.info.run_id).inputs.dataset_inputs[0].dataset
    assert dataset.name == "ExpressionData.csv" and dataset.source_type == "local"
    assert str(data_file) in dataset.source
    assert expression_digest(_expression()) == expression_digest(_expression())
    assert expression_digest(_expression()) != expression_digest(_expression(seed=1))
    renamed = _expression().rename(columns={"g0": "other"})
    assert expression_digest(renamed) != expression_digest(_expression())


def test_a_lost_dataset_insert_race_is_retried(client, tmp_path, monkeypatch):
    """Two jobs logging one new dataset at once against a tracking server: the loser's insert hits
    the datasets UNIQUE constraint (seen in CI under submitit); its retry links the existing row."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from experiments.tracking import mlflow_dataset

    real_log_input, calls = mlflow.log_input, []

    def race_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise MlflowException("BAD_REQUEST: (sqlite3.IntegrityError) UNIQUE constraint failed: "
                                  "datasets.experiment_id, datasets.name, datasets.digest")
        return real_log_input(*args, **kwargs)

    monkeypatch.setattr(mlflow_dataset.mlflow, "log_input", race_once)
    experiment = client.create_experiment("race", artifact_location=(tmp_path / "a").as_uri())
    with mlflow.start_run(experiment_id=experiment) as run:
        logged = mlflow_dataset.log_expression_dataset(_expression(), {"kind": "sim"})
    assert len(calls) == 2
    assert [i.dataset.digest for i in client.get_run(run.info.run_id).inputs.dataset_inputs] == [logged.digest]


def test_other_dataset_errors_are_not_retried(monkeypatch):
    from mlflow.exceptions import MlflowException

    from experiments.tracking import mlflow_dataset

    calls = []

    def refuse(*args, **kwargs):
        calls.append(1)
        raise MlflowException("RESOURCE_DOES_NOT_EXIST: run not found")

    monkeypatch.setattr(mlflow_dataset.mlflow, "log_input", refuse)
    with pytest.raises(MlflowException, match="run not found"):
        mlflow_dataset.log_expression_dataset(_expression(), {"kind": "sim"})
    assert len(calls) == 1


def test_dataset_input_errors():
    from experiments.tracking.mlflow_dataset import expression_dataset, job_source

    with pytest.raises(TypeError, match="expression"):
        expression_dataset(np.zeros((2, 2)), {"kind": "sim"})
    with pytest.raises(TypeError, match="source"):
        expression_dataset(_expression(), 3)
    with pytest.raises(ValueError, match="data.path"):
        job_source({"kind": "h5ad"}, 0)


def test_experiments_are_marked_model_training(client, tmp_path):
    from experiments.tracking.mlflow_ui import (KIND_TAG, MODEL_TRAINING, create_training_experiment,
                                       mark_model_training, runs_view_url)

    created = create_training_experiment(client, "new", (tmp_path / "a").as_uri())
    assert client.get_experiment(created).tags[KIND_TAG] == MODEL_TRAINING

    existing = client.create_experiment("old")
    assert KIND_TAG not in client.get_experiment(existing).tags
    mark_model_training(client, existing)
    assert client.get_experiment(existing).tags[KIND_TAG] == MODEL_TRAINING

    chosen = client.create_experiment("chosen", tags={KIND_TAG: "genai_development"})
    mark_model_training(client, chosen)  # a kind set by hand is kept
    assert client.get_experiment(chosen).tags[KIND_TAG] == "genai_development"
    assert runs_view_url("http://127.0.0.1:5000/", existing) == (
        f"http://127.0.0.1:5000/#/experiments/{existing}/runs?workflowType=machine_learning")
