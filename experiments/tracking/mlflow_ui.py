"""Make the MLflow UI open this project's experiments in the model-training (runs) view.

How MLflow 3.17.2 decides (read in its UI bundle, ``mlflow/server/js/build/static/js``; the
evidence, file by file, is in docs/scale-out.md): the experiment page takes its kind from the
browser's *workflow type*, ``genai`` or ``machine_learning``: the URL's ``?workflowType=`` query,
else the sidebar switch's choice kept in the browser's local storage (key
``mlflow.workflowType_v1``), else **genai**. The experiment tag ``mlflow.experimentKind``
(``custom_model_development`` = machine learning) is read only when a feature flag is off, and
3.17.2 hard-wires it on; no server option or environment variable sets the default. So: the tag
on every experiment (for UIs that read it), and links with ``workflowType=machine_learning`` to
each experiment's runs table (``make ui`` prints them: the experiment list's own links drop the
query, so a click from the list opens the GenAI view again).
"""
from __future__ import annotations

import sys
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


def runs_view_links(client: MlflowClient, server_url: str) -> dict[str, str]:
    """{experiment name: :func:`runs_view_url`} for every active experiment of the store, by id."""
    experiments = sorted(client.search_experiments(), key=lambda e: int(e.experiment_id) if
                         e.experiment_id.isdigit() else 0)
    return {e.name: runs_view_url(server_url, e.experiment_id) for e in experiments}


def main(argv: Optional[list[str]] = None) -> None:
    """``python -m experiments.tracking.mlflow_ui STORE_URI [UI_URL]`` (``make ui``): print the runs-table
    link of every experiment in the store; UI_URL defaults to STORE_URI for a tracking server,
    else http://127.0.0.1:5000."""
    args = sys.argv[1:] if argv is None else argv
    if not 1 <= len(args) <= 2:
        raise SystemExit("usage: python -m experiments.tracking.mlflow_ui STORE_URI [UI_URL]")
    store = args[0]
    server_url = args[1] if len(args) == 2 else store if store.startswith(("http://", "https://")) \
        else "http://127.0.0.1:5000"
    print(f"MLflow 3.17 opens experiments in its GenAI view; these links open the runs table:\n"
          f"  experiment list: {server_url.rstrip('/')}/#/experiments?{WORKFLOW_QUERY}")
    for name, url in runs_view_links(MlflowClient(store), server_url).items():
        print(f"  {name}: {url}")
    print('or set the sidebar switch to "Model training" once: the browser keeps it (local storage)', flush=True)


if __name__ == "__main__":
    main()
