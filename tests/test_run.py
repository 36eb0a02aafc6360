"""End to end: the real `python run.py -m ...` into a temporary MLflow store, plus failure and resume."""
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from mlflow.tracking import MlflowClient

ROOT = Path(__file__).resolve().parents[1]
TINY = ["data.n_tfs=6", "data.n_genes=30", "data.n_cells=120", "data.n_master=2", "training.epochs=1",
        "cv.n_folds=2", "model.conv_filters=[4,4,4]", "model.embedding=8", "model.dense_units=[8,4]"]


def _runs(db: Path, experiment="deepdrim"):
    client = MlflowClient(f"sqlite:///{db}")
    exp = client.get_experiment_by_name(experiment)
    return client, client.search_runs([exp.experiment_id])


def test_multirun_logs_three_finished_runs(tmp_path):
    db = tmp_path / "mlflow.db"
    cmd = [sys.executable, str(ROOT / "run.py"), "-m", "neighbors=0,1,2", *TINY,
           f"tracking.uri=sqlite:///{db}", f"hydra.sweep.dir={tmp_path / 'multirun'}"]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    client, runs = _runs(db)
    parent = [r for r in runs if r.data.tags.get("kind") == "multirun"]
    jobs = [r for r in runs if r.data.tags.get("kind") != "multirun"]
    assert len(parent) == 1 and parent[0].info.status == "FINISHED"
    assert len(jobs) == 3 and all(r.info.status == "FINISHED" for r in jobs)
    assert sorted(r.data.params["neighbors"] for r in jobs) == ["0", "1", "2"]
    for run in jobs:
        assert run.data.tags["mlflow.parentRunId"] == parent[0].info.run_id
        assert run.data.params["model.n_neighbors"] == run.data.params["neighbors"]
        assert run.data.params["training.epochs"] == "1"
        for key in ("auroc", "auprc", "median_tf_auroc", "median_tf_auprc", "fold0/auroc", "pcc/auroc"):
            assert 0.0 <= run.data.metrics[key] <= 1.0, key
        assert len(client.get_metric_history(run.info.run_id, "fold0/val_auroc")) == 1
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert artifacts == {"config.yaml", "predictions.csv", "per_tf_metrics.csv", "rankedEdges.csv", "roc.png", "pr.png"}
        assert "neighbors=" in run.data.tags["hydra_overrides"]


def _compose(tmp_path, *overrides):
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose("config", overrides=[*TINY, f"tracking.uri=sqlite:///{tmp_path / 'm.db'}", *overrides])


def test_crash_ends_failed_with_message(tmp_path, monkeypatch):
    from experiments import cv_job

    cfg = _compose(tmp_path, "neighbors=0")

    def boom(*args, **kwargs):
        raise RuntimeError("simulated crash in training")

    monkeypatch.setattr(cv_job, "cross_validate", boom)
    with pytest.raises(RuntimeError):
        cv_job.run(cfg, tmp_path / "out")
    _, runs = _runs(tmp_path / "m.db")
    assert [r.info.status for r in runs] == ["FAILED"]
    assert "simulated crash" in runs[0].data.tags["error"]
    assert not (tmp_path / "out" / "predictions.csv").exists()


def test_rerun_skips_finished_configuration(tmp_path):
    from experiments import cv_job

    cfg = _compose(tmp_path, "neighbors=0")
    first = cv_job.run(cfg, tmp_path / "a")
    second = cv_job.run(cfg, tmp_path / "b")
    _, runs = _runs(tmp_path / "m.db")
    assert len(runs) == 1 and second["auroc"] == pytest.approx(first["auroc"])
    cv_job.run(_compose(tmp_path, "neighbors=0", "force=true"), tmp_path / "c")
    assert len(_runs(tmp_path / "m.db")[1]) == 2


def test_bad_input_is_one_line_and_writes_nothing(tmp_path):
    db = tmp_path / "mlflow.db"
    cmd = [sys.executable, str(ROOT / "run.py"), "neighbors=40", *TINY, f"tracking.uri=sqlite:///{db}",
           f"hydra.run.dir={tmp_path / 'out'}"]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: neighbors=40")
    assert "Traceback" not in done.stderr
    assert not db.exists() and not (tmp_path / "out" / "predictions.csv").exists()
