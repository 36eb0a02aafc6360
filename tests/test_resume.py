"""Resume after kill -9: re-running the same study command runs only the configurations without a
FINISHED run, leaves nothing RUNNING, counts nothing twice; and two joblib workers share one store."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = "fig4d_train_fraction"
pytestmark = pytest.mark.slow  # subprocess multiruns, a kill -9


@pytest.fixture()
def command(tmp_path, tiny):
    def make(*extra):
        return [sys.executable, str(ROOT / "run.py"), "-m", f"experiment={EXPERIMENT}", "scale=quick",
                "train_fraction=0.4,0.7,1.0", "seed=0", *tiny, "neighbors=1",
                f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}", f"hydra.sweep.dir={tmp_path / 'multirun'}", *extra]

    return make


def _runs(tmp_path):
    """The store's client, parent runs and job runs; none while the sweep has not created the store
    (a client built first would create it itself, racing the sweep's own atomic creation)."""
    if not (tmp_path / "mlflow.db").exists():
        return None, [], []
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        return client, [], []
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("kind") == "multirun"]
    return client, parents, [r for r in runs if r.data.tags.get("kind") != "multirun"]


def _finished_per_config(jobs):
    counts = {}
    for run in jobs:
        if run.info.status == "FINISHED":
            counts[run.data.tags["config_hash"]] = counts.get(run.data.tags["config_hash"], 0) + 1
    return counts


def test_kill_9_then_rerun_completes_each_configuration_once(tmp_path, command):
    proc = subprocess.Popen(command(), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    try:
        while time.time() < deadline and proc.poll() is None:
            try:
                if _finished_per_config(_runs(tmp_path)[2]):
                    break
            except Exception:  # noqa: BLE001 - the store is being created
                pass
            time.sleep(0.3)
        assert proc.poll() is None, "the sweep ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    _, parents, jobs = _runs(tmp_path)
    assert [p.info.status for p in parents] == ["RUNNING"]  # the killed process could not close it
    finished_before = _finished_per_config(jobs)
    assert 1 <= len(finished_before) < 3

    done = subprocess.run(command(), cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("[skip]") == len(finished_before)
    client, parents, jobs = _runs(tmp_path)
    assert not [r for r in parents + jobs if r.info.status == "RUNNING"]
    counts = _finished_per_config(jobs)
    assert len(counts) == 3 and set(counts.values()) == {1}  # every configuration exactly once
    assert all(r.info.status in ("FINISHED", "KILLED") for r in jobs)
    old, new = sorted(parents, key=lambda r: r.info.start_time)
    assert old.info.status == "KILLED" and new.info.status == "FINISHED"
    assert f"{len(finished_before)} reused" in new.data.tags["jobs"]
    table = pd.read_csv(client.download_artifacts(new.info.run_id, f"{EXPERIMENT}.csv", str(tmp_path)))
    assert table.train_fraction.tolist() == [0.4, 0.7, 1.0]  # the figure covers reused and new runs alike
    listed = pd.read_csv(client.download_artifacts(new.info.run_id, "study_runs.csv", str(tmp_path / "listed")))
    finished = {r.info.run_id: r.data.tags["config_hash"] for r in jobs if r.info.status == "FINISHED"}
    assert dict(zip(listed.run_id, listed.config_hash)) == finished  # what task=report draws for the study


def test_two_joblib_workers_share_one_store(tmp_path, command):
    done = subprocess.run(command("hydra/launcher=joblib", "hydra.launcher.n_jobs=2"), cwd=tmp_path,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    client, parents, jobs = _runs(tmp_path)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(jobs) == 3 and all(r.info.status == "FINISHED" for r in jobs)
    assert set(_finished_per_config(jobs).values()) == {1}
    assert {r.data.tags["mlflow.parentRunId"] for r in jobs} == {parents[0].info.run_id}
    assert {"fig4d_train_fraction.png"} <= {a.path for a in client.list_artifacts(parents[0].info.run_id)}


def test_a_configuration_two_studies_share_is_trained_once(tmp_path, tiny):
    """fig4a at all cells is fig4d at the full training set: the second study reuses the first's
    run, plots it at its own x and lists it in study_runs.csv with the study it came from."""
    def sweep(*study):
        return subprocess.run([sys.executable, str(ROOT / "run.py"), "-m", *study, "scale=quick", "seed=0", *tiny,
                               "neighbors=1", f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
                               f"hydra.sweep.dir={tmp_path / 'multirun' / study[0].split('=')[1]}"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=900)

    first = sweep("experiment=fig4a_cells", "cells=1.0")
    assert first.returncode == 0, first.stderr[-3000:]
    second = sweep("experiment=fig4d_train_fraction", "train_fraction=0.7,1.0")
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stdout.count("the same computation FINISHED") == 1
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (fig4a_job,) = [r for r in client.search_runs([client.get_experiment_by_name("fig4a_cells").experiment_id])
                    if r.data.tags.get("kind") != "multirun"]
    runs = client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("kind") == "multirun"]
    assert len(runs) == 2 and parent.data.tags["jobs"] == "1 finished, 0 failed, 1 reused from earlier runs"
    table = pd.read_csv(client.download_artifacts(parent.info.run_id, f"{EXPERIMENT}.csv", str(tmp_path)))
    assert table.train_fraction.tolist() == [0.7, 1.0]
    listed = pd.read_csv(client.download_artifacts(parent.info.run_id, "study_runs.csv", str(tmp_path / "listed")))
    assert dict(zip(listed.run_id, listed.study))[fig4a_job.info.run_id] == "fig4a_cells"
