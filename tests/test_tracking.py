"""The one job wrapper, ``tracking.run_job``: what a run gets, resume by config hash, FAILED and
KILLED runs (with a stand-in computation: no training)."""
import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from experiments.tracking import artifacts, job_runs


def _runs(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    return client, client.search_runs([client.get_experiment_by_name("deepdrim").experiment_id])


def test_run_job_logs_config_tags_metrics_files_and_skips_a_finished_configuration(tmp_path, compose, store):
    cfg, calls = compose("neighbors=0"), []

    def compute():
        calls.append(1)
        note = artifacts.write_text("x", tmp_path / "out" / "note.txt")
        return job_runs.JobResult({"auroc": 0.75, "undefined": float("nan")}, [note], tags={"learnt": "yes"})

    overrides = "neighbors=0 tracking.uri=elsewhere"
    first = job_runs.run_job(cfg, tmp_path / "out", overrides, "cv", compute, tags={"method": "deepdrim"})
    again = job_runs.run_job(cfg, tmp_path / "again", overrides, "cv", compute)
    assert calls == [1] and first["auroc"] == again["auroc"] == 0.75  # the second is skipped
    client, (run,) = _runs(tmp_path)
    assert run.info.status == "FINISHED" and run.info.run_name == "neighbors=0"  # where it logs is not its name
    assert run.data.tags["config_hash"] == job_runs.config_hash(OmegaConf.to_container(cfg, resolve=True))
    assert {k: run.data.tags[k] for k in ("task", "method", "study", "learnt", "hydra_overrides")} == {
        "task": "cv", "method": "deepdrim", "study": "adhoc", "learnt": "yes", "hydra_overrides": overrides}
    assert run.data.metrics == {"auroc": 0.75}  # a NaN metric is left out
    assert run.data.params["neighbors"] == "0" and not any(k.startswith(("tracking.", "paths.")) for k in run.data.params)
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"config.yaml", "note.txt"}
    job_runs.run_job(compose("neighbors=0", "force=true"), tmp_path / "forced", overrides, "cv", compute)
    assert calls == [1, 1] and len(_runs(tmp_path)[1]) == 2


@pytest.mark.parametrize("error, status", [(RuntimeError("boom"), "FAILED"), (KeyboardInterrupt(), "KILLED")])
def test_run_job_ends_failed_or_killed_with_the_error(tmp_path, compose, store, error, status):
    def compute():
        raise error

    with pytest.raises(type(error)):
        job_runs.run_job(compose(), tmp_path / "out", "", "cv", compute)
    _, (run,) = _runs(tmp_path)
    assert run.info.status == status and run.data.tags["error"]


def test_sweep_children_are_named_by_what_varies(monkeypatch):
    """In a multirun a child is named by the swept keys' values only (``neighbors=10 seed=1``), not
    the whole override string with its paths; a single job by its overrides without paths."""
    from experiments.tracking import job_runs

    overrides = "neighbors=10 seed=1 data.n_cells=120 paths.outputs=/x/y tracking.uri=sqlite:////x/m.db"
    monkeypatch.setenv(job_runs.SWEPT_ENV, "neighbors,seed")
    assert job_runs.sweep_name(overrides) == "neighbors=10 seed=1"
    monkeypatch.delenv(job_runs.SWEPT_ENV)
    assert job_runs.sweep_name(overrides) == "neighbors=10 seed=1 data.n_cells=120"
    assert job_runs.sweep_name("paths.outputs=/x") == ""



def test_new_keys_at_their_neutral_value_keep_the_config_hash():
    old = {"seed": 0, "cv": {"n_folds": 3}, "model": {"n_bins": 32}, "data": {"kind": "sim"}}
    new = {"seed": 0, "cv": {"n_folds": 3, "split": "tf"}, "model": {"n_bins": 32, "neighbor_values": "raw"},
           "data": {"kind": "sim", "dropout": "logistic", "in_degree": "uniform"}}
    assert job_runs.config_hash(old) == job_runs.config_hash(new)
    strict = {**new, "cv": {"n_folds": 3, "split": "strict"}}
    assert job_runs.config_hash(strict) != job_runs.config_hash(old)
