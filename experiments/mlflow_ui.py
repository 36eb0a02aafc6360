"""Make the MLflow UI open this project's experiments in the model-training (runs) view.

How MLflow 3.17 decides (read in its UI bundle, ``mlflow/server/js/build``): the experiment page
takes its kind from the browser's *workflow type*, ``genai`` or ``machine_learning`` - the
sidebar switch, kept in the browser's local storage under ``mlflow.workflowType`` and **genai by
default**, overridden by the page URL's ``?workflowType=`` query - and opens the Traces tab for
GenAI, the Runs tab otherwise. The experiment tag ``mlflow.experimentKind``
(``custom_model_development`` = machine learning) is what the UI's kind selector writes and what
it reads when that workflow switch is turned off (earlier 3.x UIs, hosted MLflow). So both are
done here: the tag on every experiment, and links with ``workflowType=machine_learning``.
"""
from __future__ import annotations

from typing import Optional

from mlflow.tracking import MlflowClient

KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"  # the UI's "Machine learning" kind
WORKFLOW_QUERY = "workflowType=machine_learning"


def mark_model_training(client: MlflowClient, experiment_id: str) -> None:
    """Tag the experiment as model training (``mlflow.experimentKind``), unless a kind is set
    already (a user's choice in the UI is kept)."""
    experiment = client.get_experiment(experiment_id)
    if KIND_TAG not in (experiment.tags or {}):
        client.set_experiment_tag(experiment_id, KIND_TAG, MODEL_TRAINING)


def create_training_experiment(client: MlflowClient, name: str, artifact_location: Optional[str] = None) -> str:
    """``client.create_experiment`` with the model-training kind tag set at creation; returns its id."""
    return client.create_experiment(name, artifact_location=artifact_location, tags={KIND_TAG: MODEL_TRAINING})


def runs_view_url(server_url: str, experiment_id: str) -> str:
    """Link that opens the experiment's runs table in MLflow 3.17's UI whatever the browser's
    workflow switch says (e.g. ``http://127.0.0.1:5000/#/experiments/1/runs?workflowType=machine_learning``)."""
    return f"{server_url.rstrip('/')}/#/experiments/{experiment_id}/runs?{WORKFLOW_QUERY}"
