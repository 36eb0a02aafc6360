"""A run logged through a local MLflow tracking server (HTTP, proxied artifacts) reads back whole."""
import numpy as np
import pandas as pd
import pytest

from tests.conftest import TINY_MODEL
from tests.server_fixture import mlflow_server  # noqa: F401 - the fixture


def test_server_command_and_locations():
    from experiments.tracking.server import artifact_location, server_command

    command = server_command("sqlite:///mlflow/x.db", "mlflow/art", port=5123, workers=1)
    assert command[command.index("--port") + 1] == "5123" and "--serve-artifacts" in command
    assert command[command.index("--backend-store-uri") + 1].startswith("sqlite:////")
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert artifact_location("http://127.0.0.1:5000", "file:///x") is None
    assert artifact_location("sqlite:///m.db", "file:///x") == "file:///x"
    with pytest.raises(ValueError, match="port"):
        server_command(port=0)


@pytest.mark.slow
def test_run_through_server_reads_back(mlflow_server, tiny_dataset, tmp_path):  # noqa: F811
    import mlflow
    from mlflow.tracking import MlflowClient

    from deepdrim.estimator import DeepDRIM
    from experiments.tracking.mlflow_dataset import job_source, log_expression_dataset
    from deepdrim.evaluation import link_probabilities
    from experiments.tracking.mlflow_model import log_deepdrim_model
    from experiments.tracking.mlflow_ui import KIND_TAG, MODEL_TRAINING, create_training_experiment

    data, pairs = tiny_dataset
    model = DeepDRIM(n_neighbors=1, epochs=1, random_state=0, **TINY_MODEL)
    model.fit(data.expression, pairs.pairs, pairs.labels)
    mlflow.set_tracking_uri(mlflow_server)
    try:
        client = MlflowClient(mlflow_server)
        experiment = create_training_experiment(client, "served")
        assert client.get_experiment(experiment).artifact_location.startswith("mlflow-artifacts:")
        (tmp_path / "note.txt").write_text("hello server")
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_params({"neighbors": 1, "epochs": 1})
            mlflow.log_metric("auroc", 0.75, step=0)
            mlflow.log_artifact(str(tmp_path / "note.txt"))
            log_expression_dataset(data.expression, job_source({"kind": "sim", "n_genes": 30}, 0))
            log_deepdrim_model(model, data.expression)

        back = client.get_run(run.info.run_id)
        assert back.info.status == "FINISHED" and back.data.params == {"neighbors": "1", "epochs": "1"}
        assert back.data.metrics == {"auroc": 0.75}
        assert client.get_experiment(experiment).tags[KIND_TAG] == MODEL_TRAINING
        assert back.inputs.dataset_inputs[0].dataset.name == "sim"
        local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="note.txt",
                                                    dst_path=str(tmp_path / "dl"))
        assert open(local).read() == "hello server"

        genes = np.asarray(data.expression.columns)
        table = pd.DataFrame({"tf": genes[pairs.pairs[:20, 0]], "target": genes[pairs.pairs[:20, 1]]})
        served = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model").predict(table)["probability"]
        np.testing.assert_allclose(served.to_numpy(), link_probabilities(model.predict_proba(pairs.pairs[:20])),
                                   rtol=1e-6)
    finally:
        mlflow.set_tracking_uri(None)


def test_make_server_execs_mlflow_server(monkeypatch, capsys):
    from experiments.tracking import server

    calls = []
    monkeypatch.setattr(server.os, "execv", lambda path, argv: calls.append((path, argv)))
    monkeypatch.setattr(server.os, "environ", dict(server.os.environ))  # main sets the server's warning filter
    server.main(["--port", "5099", "--backend-store-uri", "postgresql://u:p@db:5432/mlflow",
                          "--artifacts-destination", "s3://bucket/mlflow"])
    (path, argv), = calls
    assert path == argv[0] and "server" in argv and "--serve-artifacts" in argv
    assert argv[argv.index("--backend-store-uri") + 1] == "postgresql://u:p@db:5432/mlflow"
    assert argv[argv.index("--artifacts-destination") + 1] == "s3://bucket/mlflow"
    assert "tracking.uri=http://127.0.0.1:5099" in capsys.readouterr().out
    assert server.os.environ["PYTHONWARNINGS"] == server.SERVER_WARNINGS
