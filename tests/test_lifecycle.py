"""Run lifecycle: concurrent processes on one store, SIGTERM/SIGINT, the same configuration twice,
and stale RUNNING runs closed only when their process is provably gone."""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from deepdrim.metrics import summary
from experiments.tracking import job_runs, mlflow_store

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _all_runs(db: Path):
    """The store's client and runs; none while the job has not created the store (a client built
    first would create it itself, racing the job's own atomic creation)."""
    if not db.exists():
        return None, []
    client = MlflowClient(f"sqlite:///{db}")
    experiment = client.get_experiment_by_name("deepdrim")
    return client, (client.search_runs([experiment.experiment_id]) if experiment else [])


def _start(tmp_path, *overrides):
    return subprocess.Popen([sys.executable, str(ROOT / "run.py"), *overrides,
                             f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"],
                            cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# ----------------------------------------------------------------------------------- in-process
def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.parametrize("who, closed", [
    ("dead", True), ("alive", False), ("other_host", False), ("recycled_pid", True), ("untagged", True)])
def test_stale_run_closed_only_when_its_process_is_gone(store, who, closed):
    client = MlflowClient(store)
    experiment_id = mlflow_store.setup(store, "artifacts", "deepdrim")
    tags = {job_runs.HASH_TAG: "h", **job_runs.process_tags()}
    if who == "dead":
        tags["pid"] = str(_dead_pid())
    elif who == "other_host":
        tags["host"] = socket.gethostname() + "-elsewhere"
    elif who == "recycled_pid":  # pid alive, but started after the run recorded it
        tags["pid_start"] = "1"
    elif who == "untagged":  # a run written before host/pid were recorded
        tags = {job_runs.HASH_TAG: "h"}
    run = client.create_run(experiment_id, tags=tags)
    alive = job_runs.close_stale_runs(experiment_id, "h")
    status = client.get_run(run.info.run_id).info.status
    assert status == ("KILLED" if closed else "RUNNING")
    assert [r.info.run_id for r in alive] == ([] if closed else [run.info.run_id])


def test_a_configuration_held_by_another_process_is_skipped(compose, tmp_path, capsys):
    cfg = compose("neighbors=0")
    uri = mlflow_store.resolve_uri(cfg.tracking.uri)
    experiment_id = mlflow_store.setup(uri, "artifacts", "deepdrim")
    chash = job_runs.config_hash(OmegaConf.to_container(cfg, resolve=True))
    lock = mlflow_store.lock_dir(uri) / ".locks" / f"{experiment_id}-{chash}.lock"
    calls = []
    with mlflow_store.file_lock(lock):  # fcntl locks are per open file: this holder is "another process"
        metrics = job_runs.run_job(cfg, tmp_path / "out", "", "cv", lambda: calls.append(1))
    assert metrics == {} and not calls
    assert "is running in another process" in capsys.readouterr().out
    assert _all_runs(tmp_path / "mlflow.db")[1] == []


def test_a_signal_whose_exception_was_swallowed_still_ends_the_run_killed(store, monkeypatch):
    """The handler ran (the flag is set) but its exception was lost on the way, e.g. in a finalizer:
    the next epoch's metrics raise it, and a body that still completes ends KILLED, not FINISHED."""
    experiment_id = mlflow_store.setup(store, "artifacts", "deepdrim")
    monkeypatch.setattr(job_runs, "INTERRUPTED", "SIGTERM")
    monkeypatch.setattr(job_runs, "KILLED_RUN", None)  # restored after the test
    with pytest.raises(job_runs.Terminated):
        with job_runs.tracked_run(experiment_id, "swallowed", {}, {}) as run:
            pass
    assert MlflowClient(store).get_run(run.info.run_id).info.status == "KILLED"
    assert job_runs.KILLED_RUN == run.info.run_id
    with pytest.raises(job_runs.Terminated):
        with job_runs.tracked_run(experiment_id, "per-epoch", {}, {}):
            job_runs.log_metrics({"loss": 0.5}, step=0)


@pytest.fixture()
def run_py_interrupts(monkeypatch):
    """run.py's SIGINT handler installed in this process (the previous one restored after), no signal yet."""
    import run as entry_point

    monkeypatch.setattr(job_runs, "INTERRUPTED", None)
    monkeypatch.setattr(job_runs, "KILLED_RUN", None)
    previous = signal.signal(signal.SIGINT, entry_point._interrupt)
    yield
    signal.signal(signal.SIGINT, previous)


def test_a_signal_inside_a_store_call_waits_for_the_call_then_ends_the_run_killed(store, run_py_interrupts):
    """Ctrl-C landing in a store write: the write completes, then the signal unwinds the job and
    the run ends KILLED (raised inside sqlite, it left a statement holding the file's lock and the
    KILLED mark waited on this process's own lock: CI's SIGINT test hung on it)."""
    experiment_id = mlflow_store.setup(store, "artifacts", "deepdrim")
    written = []

    def write_while_signalled():
        os.kill(os.getpid(), signal.SIGINT)
        mlflow.log_metrics({"loss": 0.25}, step=3)
        written.append(True)

    with pytest.raises(KeyboardInterrupt):
        with job_runs.tracked_run(experiment_id, "signal-in-store-call", {}, {}) as run:
            mlflow_store.with_retry(write_while_signalled)
    assert written == [True]
    finished = MlflowClient(store).get_run(run.info.run_id)
    assert finished.info.status == "KILLED"
    assert finished.data.metrics == {"loss": 0.25}
    assert finished.data.tags["error"] == "interrupted (SIGINT)"


def test_a_signal_held_by_a_busy_store_call_stops_its_retries(run_py_interrupts):
    """Ctrl-C while a call waits on another process's lock: no further retry, the signal is raised."""
    attempts = []

    def locked():
        attempts.append(1)
        if len(attempts) == 1:
            os.kill(os.getpid(), signal.SIGINT)
        raise RuntimeError("database is locked")

    with pytest.raises(KeyboardInterrupt):
        mlflow_store.with_retry(locked, attempts=5)
    assert len(attempts) == 1


# --------------------------------------------------------------------------------- subprocesses
@pytest.mark.slow
def test_four_concurrent_processes_on_a_fresh_store_keep_their_own_artifacts(tmp_path, tiny):
    """Four jobs started at once on a store that does not exist yet: one schema set-up, four
    FINISHED runs, each with its own config.yaml and predictions.csv (matching its metrics)."""
    procs = [_start(tmp_path, *tiny, "method=pcc", f"seed={seed}") for seed in range(4)]
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
    client, runs = _all_runs(tmp_path / "mlflow.db")
    assert len(runs) == 4 and {r.info.status for r in runs} == {"FINISHED"}
    assert sorted(r.data.params["seed"] for r in runs) == ["0", "1", "2", "3"]
    assert len({r.data.tags["output_dir"] for r in runs}) == 4
    for run in runs:
        folder = tmp_path / "download" / run.info.run_id
        folder.mkdir(parents=True)
        config = OmegaConf.load(client.download_artifacts(run.info.run_id, "config.yaml", str(folder)))
        assert str(config.seed) == run.data.params["seed"]
        table = pd.read_csv(client.download_artifacts(run.info.run_id, "predictions.csv", str(folder)))
        assert summary(table.tf, table.label, table.score)["auroc"] == pytest.approx(run.data.metrics["auroc"])


def _wait_running(db: Path, proc, timeout: float = 300):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        try:
            runs = [r for r in _all_runs(db)[1] if r.info.status == "RUNNING"]
            if runs:
                return runs[0]
        except Exception:  # noqa: BLE001 - the store is being created
            pass
        time.sleep(0.3)
    raise AssertionError(f"no RUNNING run appeared (exit {proc.poll()})")


LONG = ["training.epochs=400", "training.min_epochs=400", "training.patience=400"]


@pytest.mark.slow
@pytest.mark.parametrize("signum, code, delay", [(signal.SIGTERM, 143, 1.0), (signal.SIGINT, 130, 1.0),
                                                 (signal.SIGTERM, 143, 0.0)])
def test_signal_ends_the_run_killed_with_one_line(tmp_path, tiny, signum, code, delay):
    """Mid-training, or at once (TensorFlow may be tracing its function then: the signal can
    surface there as another error, still a KILLED run and one line)."""
    proc = _start(tmp_path, *tiny, "neighbors=1", *LONG)
    try:
        run = _wait_running(tmp_path / "mlflow.db", proc)
        time.sleep(delay)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err[-3000:]
    assert "Traceback" not in err
    name = signal.Signals(signum).name
    assert err.strip().splitlines()[-1] == f"interrupted by {name}: run {run.info.run_id} marked KILLED"
    client, runs = _all_runs(tmp_path / "mlflow.db")
    assert [(r.info.status, r.data.tags.get("error")) for r in runs] == [("KILLED", f"interrupted ({name})")]


@pytest.mark.slow
def test_same_configuration_started_twice_finishes_once(tmp_path, tiny):
    """Two processes on one configuration at the same time: one runs it, the other skips with one
    line (it is running elsewhere, or already FINISHED); never two runs."""
    procs = [_start(tmp_path, *tiny, "neighbors=1", "training.epochs=30", "training.min_epochs=30")
             for _ in range(2)]
    outs = [proc.communicate(timeout=600) for proc in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-2000:] for _, e in outs]
    skipped = [out for out, _ in outs if "[skip] configuration" in out]
    assert len(skipped) == 1, outs
    _, runs = _all_runs(tmp_path / "mlflow.db")
    assert [r.info.status for r in runs] == ["FINISHED"]


@pytest.mark.slow
def test_sigterm_mid_sweep_ends_job_and_parent_killed(tmp_path, tiny):
    proc = _start(tmp_path, "-m", *tiny, "neighbors=1,2", *LONG, f"hydra.sweep.dir={tmp_path / 'multirun'}")
    try:
        _wait_running(tmp_path / "mlflow.db", proc)
        deadline = time.time() + 120
        while time.time() < deadline and len([r for r in _all_runs(tmp_path / "mlflow.db")[1]
                                              if r.info.status == "RUNNING"]) < 2:
            time.sleep(0.3)  # the parent and the first job
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err[-3000:]
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("interrupted by SIGTERM: run ")
    _, runs = _all_runs(tmp_path / "mlflow.db")
    assert sorted((r.data.tags.get("kind") == "multirun", r.info.status) for r in runs) == [
        (False, "KILLED"), (True, "KILLED")]


@pytest.mark.slow
def test_signal_stress_benchmark_counts_a_clean_exit(tmp_path):
    """benchmarks/signal_stress.py (the tool that found the store-lock hang): one try, no hang."""
    from tests.conftest import benchmark

    status, line = benchmark("signal_stress").one_try(tmp_path, 0.3, signal.SIGTERM, timeout=120)
    assert status == "exit 143"
    assert line.startswith("interrupted by SIGTERM: run ") and line.endswith(" marked KILLED")
