"""The one job wrapper, ``tracking.run_job``: what a run gets, resume by config hash, FAILED and
KILLED runs (with a stand-in computation: no training)."""
import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from deepdrim.files import write_text
from experiments.tracking import job_runs


def _runs(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    return client, client.search_runs([client.get_experiment_by_name("deepdrim").experiment_id])


def test_run_job_logs_config_tags_metrics_files_and_skips_a_finished_configuration(tmp_path, compose, store):
    cfg, calls = compose("neighbors=0"), []

    def compute():
        calls.append(1)
        note = write_text("x", tmp_path / "out" / "note.txt")
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
    assert job_runs.sweep_name("neighbors=2 figure.x_label=n") == "neighbors=2"  # how it is drawn, not what



def test_new_keys_at_their_neutral_value_keep_the_config_hash():
    old = {"seed": 0, "cv": {"n_folds": 3}, "model": {"n_bins": 32}, "data": {"kind": "sim"}}
    new = {"seed": 0, "cv": {"n_folds": 3, "split": "tf"}, "model": {"n_bins": 32, "neighbor_values": "raw"},
           "data": {"kind": "sim", "dropout": "logistic", "in_degree": "uniform"}}
    assert job_runs.config_hash(old) == job_runs.config_hash(new)
    strict = {**new, "cv": {"n_folds": 3, "split": "strict"}}
    assert job_runs.config_hash(strict) != job_runs.config_hash(old)


def test_the_compute_hash_ignores_the_study_and_writes_all_cells_as_null():
    base = {"seed": 0, "task": "cv", "cells": None, "train_fraction": 1.0, "study": "fig4d_train_fraction"}
    fig4a = {**base, "cells": 1.0, "study": "fig4a_cells"}
    assert job_runs.config_hash(fig4a) != job_runs.config_hash(base)  # each study keeps its own identity
    assert job_runs.compute_hash(fig4a) == job_runs.compute_hash(base)  # but it is the same computation
    for changed in ({"cells": 0.5}, {"cells": 200}, {"train_fraction": 0.4}, {"seed": 1}):
        assert job_runs.compute_hash({**base, **changed}) != job_runs.compute_hash(base)


def test_a_second_study_reuses_the_run_of_the_same_computation(tmp_path, compose, store):
    """fig4d's train_fraction=1.0 job is fig4a's cells=1.0 job: the second study skips it, and its
    sweep summary (``sweep_runs``) lists the first study's run, found in the other experiment."""
    from experiments.tracking.callbacks import sweep_runs

    calls = []

    def compute():
        calls.append(1)
        return job_runs.JobResult({"auroc": 0.75}, [])

    fig4a = compose("study=fig4a_cells", "cells=1.0", "tracking.experiment=fig4a_cells")
    fig4d = compose("study=fig4d_train_fraction", "train_fraction=1.0", "tracking.experiment=fig4d_train_fraction")
    first = job_runs.run_job(fig4a, tmp_path / "a", "cells=1.0", "cv", compute)
    second = job_runs.run_job(fig4d, tmp_path / "d", "train_fraction=1.0", "cv", compute)
    assert calls == [1] and first == second == {"auroc": 0.75}
    job_runs.run_job(compose("study=fig4d_train_fraction", "train_fraction=0.5",
                             "tracking.experiment=fig4d_train_fraction"), tmp_path / "d2", "", "cv", compute)
    assert calls == [1, 1]  # a different computation trains
    job_runs.run_job(compose("study=fig4d_train_fraction", "train_fraction=1.0", "force=true",
                             "tracking.experiment=fig4d_train_fraction"), tmp_path / "d3", "", "cv", compute)
    assert calls == [1, 1, 1]  # force trains again

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    shared = client.search_runs([client.get_experiment_by_name("fig4a_cells").experiment_id])
    job = tmp_path / "sweep" / "0" / ".hydra"  # a sweep's job folder, as Hydra saves it
    job.mkdir(parents=True)
    OmegaConf.save(fig4d, job / "config.yaml")
    experiment = client.get_experiment_by_name("fig4d_train_fraction").experiment_id
    forced = client.search_runs([experiment], "params.train_fraction = '1.0'")
    client.delete_run(forced[0].info.run_id)  # leave fig4d no run of its own for that configuration
    listed = sweep_runs(client, experiment, tmp_path / "sweep", children=[])
    assert [r.info.run_id for r in listed] == [shared[0].info.run_id]
    assert listed[0].data.tags["study"] == "fig4a_cells"
    job_runs.run_job(compose("cells=1.0"), tmp_path / "adhoc", "", "cv", compute)
    assert calls == [1, 1, 1, 1]  # a job outside a study trains as asked
