"""End to end: the real `python run.py -m ...` into a temporary MLflow store, plus failure, resume
and the one meaning of ``neighbors`` (method=cnnc, the GGM study)."""
import pytest
from mlflow.tracking import MlflowClient

from experiments.config import checks, ggm
from experiments.config.method import check, estimator_params
from experiments.tasks import cv, fig1_ggm


def _runs(db, experiment="deepdrim"):
    client = MlflowClient(f"sqlite:///{db}")
    exp = client.get_experiment_by_name(experiment)
    return client, client.search_runs([exp.experiment_id])


@pytest.mark.slow
def test_multirun_logs_three_finished_runs(tmp_path, tiny, run_py):
    db = tmp_path / "mlflow.db"
    done = run_py("-m", "neighbors=0,1,2", *tiny, f"tracking.uri=sqlite:///{db}",
                  f"hydra.sweep.dir={tmp_path / 'multirun'}")
    assert done.returncode == 0, done.stderr[-3000:]
    client, runs = _runs(db)
    parent = [r for r in runs if r.data.tags.get("kind") == "multirun"]
    jobs = [r for r in runs if r.data.tags.get("kind") != "multirun"]
    assert len(parent) == 1 and parent[0].info.status == "FINISHED"
    assert len(jobs) == 3 and all(r.info.status == "FINISHED" for r in jobs)
    assert sorted(r.data.params["neighbors"] for r in jobs) == ["0", "1", "2"]
    for run in jobs:
        assert run.data.tags["mlflow.parentRunId"] == parent[0].info.run_id
        assert "model.n_neighbors" not in run.data.params  # ${neighbors}: one value, logged once
        assert run.data.params["training.epochs"] == "1"
        for key in ("auroc", "auprc", "median_tf_auroc", "median_tf_auprc", "fold0/auroc", "pcc/auroc"):
            assert 0.0 <= run.data.metrics[key] <= 1.0, key
        # one stepped training-loss point per epoch (the tiny folds have < 4 validation TFs, so no
        # validation curve is logged: a fixed epoch budget, the last epoch kept)
        assert len(client.get_metric_history(run.info.run_id, "fold0/loss")) == 1
        assert not client.get_metric_history(run.info.run_id, "fold0/val_auroc")
        assert run.data.tags["trust"] in ("beats", "overlaps", "below", "too_small", "failed_to_learn")
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert artifacts == {"config.yaml", "predictions.csv", "per_tf_metrics.csv", "rankedEdges.csv", "roc.png", "pr.png"}
        assert "neighbors=" in run.data.tags["hydra_overrides"]


def test_crash_ends_failed_with_message(tmp_path, compose, monkeypatch):
    cfg = compose("neighbors=0")

    def boom(*args, **kwargs):
        raise RuntimeError("simulated crash in training")

    monkeypatch.setattr(cv, "cross_validate", boom)
    with pytest.raises(RuntimeError):
        cv.run(cfg, tmp_path / "out")
    _, runs = _runs(tmp_path / "mlflow.db")
    assert [r.info.status for r in runs] == ["FAILED"]
    assert "simulated crash" in runs[0].data.tags["error"]
    assert not (tmp_path / "out" / "predictions.csv").exists()


def test_rerun_skips_finished_configuration(tmp_path, compose):
    cfg = compose("neighbors=0")
    first = cv.run(cfg, tmp_path / "a")
    second = cv.run(cfg, tmp_path / "b")
    _, runs = _runs(tmp_path / "mlflow.db")
    assert len(runs) == 1 and second["auroc"] == pytest.approx(first["auroc"])
    cv.run(compose("neighbors=0", "force=true"), tmp_path / "c")
    assert len(_runs(tmp_path / "mlflow.db")[1]) == 2


def test_cnnc_is_deepdrim_with_neighbors_0_and_logs_what_it_trains(compose):
    cnnc = compose("method=cnnc")
    assert cnnc.neighbors == 0 and cnnc.model.n_neighbors == 0  # one value, logged as trained
    assert estimator_params(cnnc)["n_neighbors"] == 0
    check(cnnc, 120, 30)
    # neighbors=10 with cnnc would log 10 and train 0: refused in one line
    with pytest.raises(ValueError, match=r"^method=cnnc is DeepDRIM with neighbors=0 .*got neighbors=10; "
                                         r"use method=deepdrim neighbors=10 \(or sweep method=deepdrim neighbors=0,10\)$"):
        check(compose("method=cnnc", "neighbors=10"), 120, 30)
    deepdrim = compose("neighbors=3")
    assert deepdrim.method == "deepdrim" and estimator_params(deepdrim)["n_neighbors"] == 3


def test_neighbors_check_is_shared(compose):
    with pytest.raises(ValueError, match="^neighbors=40 needs at least 42 genes; the data has 30$"):
        check(compose("neighbors=40"), 120, 30)
    with pytest.raises(ValueError, match="neighbors must be an integer >= 0"):
        checks.neighbors(-1)
    assert checks.neighbors(28, 30) == 28


def test_fig1_ggm_reads_neighbors(compose):
    """``experiment=fig1_ggm neighbors=N`` sets the DeepDRIM arm (no separate ggm.neighbors)."""
    cfg = compose("experiment=fig1_ggm", "neighbors=1", tiny=False)
    assert cfg.neighbors == 1 and "neighbors" not in cfg.ggm
    assert fig1_ggm._params({"neighbors": 1, "ggm": {"n_genes": 4}})["neighbors"] == 1
    ggm.check(cfg)
    assert compose("experiment=fig1_ggm", tiny=False).neighbors == 2  # the preset's default
    with pytest.raises(ValueError, match="^neighbors=5 needs at least 7 genes; the data has 4$"):
        ggm.check(compose("experiment=fig1_ggm", "neighbors=5", tiny=False))


@pytest.mark.slow
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, tiny, run_py):
    db = tmp_path / "mlflow.db"
    done = run_py("neighbors=40", *tiny, f"tracking.uri=sqlite:///{db}", f"hydra.run.dir={tmp_path / 'out'}",
                  timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: neighbors=40")
    assert "Traceback" not in done.stderr
    assert not db.exists() and not (tmp_path / "out" / "predictions.csv").exists()
