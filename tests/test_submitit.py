"""Scale-out end to end: a tiny study multirun through Hydra's submitit launcher (its local
executor: the Slurm code path without Slurm) logging to a local MLflow tracking server."""
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.server_fixture import mlflow_server  # noqa: F401 - the fixture

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = "fig4d_train_fraction"


def _sweep(tmp_path, url, tiny):
    command = [sys.executable, str(ROOT / "run.py"), "-m", f"experiment={EXPERIMENT}", "scale=quick",
               "train_fraction=0.7,1.0", "seed=0", *tiny, "hydra/launcher=submitit_local",
               "hydra.launcher.timeout_min=20", f"tracking.uri={url}",
               f"tracking.artifact_root={tmp_path / 'artifacts'}", f"hydra.sweep.dir={tmp_path / 'multirun'}"]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_submitit_local_multirun_against_tracking_server(mlflow_server, tmp_path, tiny):  # noqa: F811
    done = _sweep(tmp_path, mlflow_server, tiny)
    assert done.returncode == 0, done.stderr[-3000:]
    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name(EXPERIMENT).experiment_id
    runs = client.search_runs([experiment])
    parents = [r for r in runs if r.data.tags.get("kind") == "multirun"]
    jobs = [r for r in runs if r.data.tags.get("kind") != "multirun"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(jobs) == 2 and all(r.info.status == "FINISHED" for r in jobs)
    assert len({r.data.tags["config_hash"] for r in jobs}) == 2  # every configuration once
    assert {r.data.tags["mlflow.parentRunId"] for r in jobs} == {parents[0].info.run_id}
    assert sorted(r.data.params["train_fraction"] for r in jobs) == ["0.7", "1.0"]
    assert {f"{EXPERIMENT}.png", f"{EXPERIMENT}.csv"} <= {a.path for a in client.list_artifacts(parents[0].info.run_id)}
    assert {"roc.png", "predictions.csv"} <= {a.path for a in client.list_artifacts(jobs[0].info.run_id)}
    assert (tmp_path / "multirun" / ".submitit").is_dir()  # the jobs really went through submitit

    again = _sweep(tmp_path, mlflow_server, tiny)  # resume: both configurations FINISHED, nothing re-runs
    assert again.returncode == 0, again.stderr[-3000:]
    runs = client.search_runs([experiment])
    jobs = [r for r in runs if r.data.tags.get("kind") != "multirun"]
    newest = max((r for r in runs if r.data.tags.get("kind") == "multirun"), key=lambda r: r.info.start_time)
    assert len(jobs) == 2 and newest.info.status == "FINISHED"
    assert newest.data.tags["jobs"] == "0 finished, 0 failed, 2 reused from earlier runs"
