"""``make ui``'s links: every experiment's runs table in MLflow 3.17's model-training view."""
from mlflow.tracking import MlflowClient

from experiments.tracking import mlflow_ui


def test_links_open_every_experiments_runs_table(store, capsys):
    client = MlflowClient(store)
    first = mlflow_ui.create_training_experiment(client, "deepdrim")
    second = mlflow_ui.create_training_experiment(client, "search")
    client.delete_experiment(client.create_experiment("gone"))
    assert mlflow_ui.runs_view_links(client, "http://127.0.0.1:5000") == {
        "Default": "http://127.0.0.1:5000/#/experiments/0/runs?workflowType=machine_learning",
        "deepdrim": f"http://127.0.0.1:5000/#/experiments/{first}/runs?workflowType=machine_learning",
        "search": f"http://127.0.0.1:5000/#/experiments/{second}/runs?workflowType=machine_learning"}

    mlflow_ui.main([store])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "  experiment list: http://127.0.0.1:5000/#/experiments?workflowType=machine_learning"
    assert f"  deepdrim: http://127.0.0.1:5000/#/experiments/{first}/runs?workflowType=machine_learning" in lines
    assert "gone" not in "\n".join(lines)
    mlflow_ui.main([store, "http://head:5001/"])
    assert f"  search: http://head:5001/#/experiments/{second}/runs?workflowType=machine_learning" in \
        capsys.readouterr().out.splitlines()
