"""task=search: a real tiny search into a temporary store, then pruning, resume, shared work and
bad input with a stand-in estimator whose validation metric the test chooses."""
import os
import threading
import time

import numpy as np
import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from tests.conftest import stand_in_for_deepdrim
from experiments.tracking import search_study
from experiments.tasks import search

SMALL_SPACE = ["search.space.epochs.low=1", "search.space.epochs.high=2", "search.space.patience.low=1",
               "search.space.patience.high=2", "search.space.dense_width.choices=[4,8]",
               "search.space.neighbors.choices=[0,1]"]


@pytest.fixture()
def compose_search(compose, store):
    """The tiny config with ``search=optuna`` and a small space, logging into a fresh store."""
    return lambda *overrides: compose("search=optuna", *SMALL_SPACE, *overrides)


def _runs(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("search").experiment_id])
    by_kind = {}
    for run in runs:
        by_kind.setdefault(run.data.tags.get("kind"), []).append(run)
    return client, by_kind


def _study(tmp_path, name="deepdrim-sim"):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path / 'optuna.db'}")


class FakeDeepDRIM:
    """Stands in for DeepDRIM: per-epoch logs whose validation metric ``quality(fit_index)`` sets;
    records the pairs every fit saw and the pairs every scoring call got."""

    fits: list = []
    scored: list = []
    quality = staticmethod(lambda index: 0.8)
    epoch_seconds = 0.0

    def __init__(self, **params):
        self.params = params

    def _check_params(self):
        return None

    def fit(self, expression, pairs, labels, *, epoch_callback=None):
        index = len(FakeDeepDRIM.fits)
        FakeDeepDRIM.fits.append(np.asarray(pairs))
        value = FakeDeepDRIM.quality(index)
        self.history_ = {"loss": [], "val_loss": [], "val_auroc": [], "val_auprc": []}
        for epoch in range(int(self.params["epochs"])):
            time.sleep(FakeDeepDRIM.epoch_seconds)
            logs = {"loss": 0.5, "val_loss": 0.5 - 0.01 * epoch, "val_auroc": value, "val_auprc": value}
            for key, item in logs.items():
                self.history_[key].append(item)
            if epoch_callback is not None:
                epoch_callback(epoch, logs)
        self.best_epoch_ = len(self.history_["loss"]) - 1
        return self

    def predict_proba(self, pairs, expression=None):
        FakeDeepDRIM.scored.append(np.asarray(pairs))
        link = np.random.default_rng(0).random(len(pairs))
        return np.column_stack([1 - link, link])


@pytest.fixture()
def fake(monkeypatch):
    FakeDeepDRIM.fits, FakeDeepDRIM.scored = [], []
    FakeDeepDRIM.quality = staticmethod(lambda index: 0.8)
    FakeDeepDRIM.epoch_seconds = 0.0
    stand_in_for_deepdrim(monkeypatch, FakeDeepDRIM)
    monkeypatch.setattr(search, "study_figures", lambda study, out, seed: ([], {}))  # drawn in the real test
    return FakeDeepDRIM


def test_three_trial_search_logs_study_runs_and_best(tmp_path, capsys, compose_search, config):
    """The real estimator, tiny: study, nested runs, best params, figures, the re-run command."""
    cfg = compose_search("search.n_trials=3", "search.evaluate_best=false",  # that: a test below
                         "data.n_tfs=16", "search.validation_fraction=0.6")  # 6-8 training TFs per fold:
    # model selection needs >= 4 validation TFs
    search.run(cfg, tmp_path / "out", "search=optuna search.n_trials=3 data.n_tfs=6")
    study = _study(tmp_path)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    client, runs = _runs(tmp_path)
    (parent,), trials = runs["search"], runs["search-trial"]
    assert "search-best" not in runs
    assert parent.info.status == "FINISHED" and len(trials) == 3
    for run in trials:
        trial = study.trials[int(run.data.tags["trial_number"])]
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id and run.data.tags["state"] == "COMPLETE"
        assert run.data.params["learning_rate"] == str(trial.params["learning_rate"])
        # the objective is the mean over the training folds of the metric at the best epoch
        folds = [run.data.metrics[f"fold{k}/best_val_auprc"] for k in range(2)]
        assert run.data.metrics["objective"] == pytest.approx(np.mean(folds)) == pytest.approx(trial.value)
        epochs = len(client.get_metric_history(run.info.run_id, "fold0/val_auprc"))
        assert epochs == run.data.metrics["fold0/epochs_run"] >= 1
    best = study.best_trial
    assert parent.data.tags["best_trial"] == str(best.number)
    assert {k[5:]: v for k, v in parent.data.tags.items() if k.startswith("best.")} == \
        {k: str(v) for k, v in best.params.items()}
    assert parent.data.metrics["best_value"] == pytest.approx(best.value)
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {
        "optimization_history.png", "param_importances.png", "parallel_coordinate.png", "best_params.json",
        "trials.csv", "summary.json"}
    # the printed command is a normal job with the best values
    command = capsys.readouterr().out.split("re-run the best configuration as a normal job:\n")[1].split("\n")[0]
    tokens = command.strip().split()
    assert tokens[:3] == ["python", "run.py", "data.n_tfs=6"] and not any("search" in t for t in tokens)
    rerun = config(*[t.strip("'") for t in tokens[2:]])
    assert rerun.task == "cv" and rerun.training.learning_rate == best.params["learning_rate"]
    assert rerun.model.dense_units[0] == best.params["dense_width"] and rerun.neighbors == best.params["neighbors"]


def test_best_trial_is_evaluated_once_on_the_outer_test_folds(tmp_path, fake, compose_search):
    fake.quality = staticmethod(lambda index: [0.6, 0.6, 0.9, 0.9][index] if index < 4 else 0.5)
    result = search.run(compose_search("search.n_trials=2"), tmp_path / "out")
    best = _study(tmp_path).best_trial
    assert best.number == 1 and len(fake.fits) == 2 * 2 + 2  # two trials, then the best once per fold
    client, runs = _runs(tmp_path)
    (parent,), (best_run,) = runs["search"], runs["search-best"]
    assert best_run.data.tags["trial_number"] == "1" and best_run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert best_run.data.params["training.learning_rate"] == str(best.params["learning_rate"])
    assert best_run.data.params["model.dense_units"] == str([best.params["dense_width"], 4])
    assert 0 <= best_run.data.metrics["auroc"] <= 1
    assert parent.data.metrics["test/auroc"] == best_run.data.metrics["auroc"] == result["auroc"]
    assert parent.data.tags["best_on_test_run_id"] == best_run.info.run_id
    assert {a.path for a in client.list_artifacts(best_run.info.run_id)} >= {"per_tf_metrics.csv", "predictions.csv"}


def test_search_never_trains_or_scores_on_the_test_folds(tmp_path, fake, compose_search):
    cfg = compose_search("search.n_trials=2", "search.evaluate_best=false")
    search.run(cfg, tmp_path / "out")
    from deepdrim.cv import tf_aware_folds
    from experiments.config import data as job_data

    data = job_data.load(dict(cfg.data), 0)
    pairs = data.pairs.pairs
    folds = tf_aware_folds(pairs, 2, random_state=0)
    assert len(fake.fits) == 4 and not fake.scored  # 2 trials x 2 folds, in fold order; no pair scored
    for index, seen in enumerate(fake.fits):
        test_tfs = set(pairs[folds[index % 2][1], 0])
        assert not test_tfs & set(seen[:, 0])


def test_pruning_marks_the_bad_trial(tmp_path, fake, compose_search):
    fake.quality = staticmethod(lambda index: 0.9 if index < 2 else 0.1)  # trial 0 good, then bad
    cfg = compose_search("search.n_trials=3", "search.pruner.n_startup_trials=1",
                   "search.pruner.n_warmup_steps=0", "search.space.epochs.low=3", "search.space.epochs.high=4")
    result = search.run(cfg, tmp_path / "out")
    study = _study(tmp_path)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.PRUNED]
    assert len(fake.fits) == 2 + 1 + 1 + 2  # trial 0, one fold of each pruned trial, best-on-test
    client, runs = _runs(tmp_path)
    pruned = [r for r in runs["search-trial"] if r.data.tags["state"] == "PRUNED"]
    assert len(pruned) == 2 and all(r.info.status == "KILLED" for r in pruned)
    for run in pruned:  # stopped at the first reported epoch
        assert len(client.get_metric_history(run.info.run_id, "reported/val_auprc")) == 1
        assert "pruned at fold 0 epoch 0" in run.data.tags["pruned"]
    assert result["n_pruned"] == 2 and runs["search"][0].data.metrics["n_pruned"] == 2


def test_resume_runs_only_missing_trials_and_reruns_a_dead_workers_trial(tmp_path, fake, compose_search):
    search.run(compose_search("search.n_trials=2"), tmp_path / "a")
    assert len(fake.fits) == 2 * 2 + 2  # trials + best-on-test
    # a worker that died mid-trial left a RUNNING trial behind, its last heartbeat > 3 s old (sqlite's
    # current_timestamp, which Optuna compares heartbeats with, has whole seconds: 2.2 s could read as 1)
    study = _study(tmp_path)
    stale = study.ask()
    study._storage.record_heartbeat(stale._trial_id)
    time.sleep(3.5)
    fake.fits.clear()
    beat = ["search.heartbeat.interval=1", "search.heartbeat.grace_period=2"]
    search.run(compose_search("search.n_trials=4", *beat), tmp_path / "b")
    study = _study(tmp_path)
    states = [t.state for t in study.trials]
    assert states.count(TrialState.COMPLETE) == 4 and study.trials[stale.number].state == TrialState.FAIL
    assert len(fake.fits) == 2 * 2  # the two missing trials; best trial 0 unchanged, its test run reused
    retried = [t for t in study.trials if t.system_attrs.get("failed_trial") == stale.number]
    assert len(retried) == 1 and retried[0].state == TrialState.COMPLETE  # re-queued by RetryHeartbeatStaleTrialCallback
    _, runs = _runs(tmp_path)
    assert len(runs["search"]) == 1 and len(runs["search-trial"]) == 4
    fake.fits.clear()
    search.run(compose_search("search.n_trials=4", *beat), tmp_path / "c")  # nothing missing
    assert len(fake.fits) == 0
    assert len(_study(tmp_path).trials) == 5 and len(_runs(tmp_path)[1]["search-trial"]) == 4


@pytest.mark.slow
def test_two_workers_share_a_study_without_lost_or_extra_trials(tmp_path, fake, compose_search):
    fake.epoch_seconds = 0.02
    errors = []
    cfg = compose_search("search.n_trials=6")  # Hydra's compose is not thread-safe

    def worker(name):
        try:
            search.run(cfg.copy(), tmp_path / name)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("w1", "w2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    study = _study(tmp_path)  # a trial started after all 6 were taken ends FAIL, marked surplus, untrained
    assert [t.state for t in study.trials if not t.user_attrs.get("surplus")] == [TrialState.COMPLETE] * 6
    _, runs = _runs(tmp_path)
    assert sorted(int(r.data.tags["trial_number"]) for r in runs["search-trial"]) == list(range(6))
    assert len(runs["search"]) == 1 and runs["search"][0].info.status == "FINISHED"
    assert len(runs["search-best"]) == 1  # finalised by one worker: the one that ran the last trial


def _journal_study(tmp_path):
    return optuna.load_study(study_name="deepdrim-sim", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "study.log"))))


def test_a_late_worker_runs_no_trial_past_the_budget(tmp_path, fake, compose_search, capsys):
    """A worker that joins while the last trial runs elsewhere takes no trial beyond ``n_trials``."""
    journal = f"search.storage={tmp_path / 'study.log'}"
    search.run(compose_search("search.n_trials=1", journal), tmp_path / "a")
    study = _journal_study(tmp_path)
    elsewhere = study.ask()  # trial 1, running in a worker on another machine
    fake.fits.clear()
    result = search.run(compose_search("search.n_trials=2", journal), tmp_path / "b")
    assert fake.fits == [] and result == {"n_complete": 1.0, "n_pruned": 0.0}
    assert "trial 2 not run: the study's 2 trials are taken" in capsys.readouterr().out
    study = _journal_study(tmp_path)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.RUNNING, TrialState.FAIL]
    assert study.trials[2].user_attrs["surplus"] is True and "mlflow_run_id" not in study.trials[2].user_attrs
    study.tell(elsewhere, 0.5)
    result = search.run(compose_search("search.n_trials=2", journal), tmp_path / "c")  # finalises
    assert result["n_complete"] == 2 and result["n_failed"] == 0
    _, runs = _runs(tmp_path)
    assert len(runs["search-trial"]) == 1 and runs["search"][0].info.status == "FINISHED"


def test_a_dead_local_workers_trial_on_a_journal_is_failed_and_rerun(tmp_path, fake, compose_search):
    """No heartbeats in a journal file: a RUNNING trial whose worker on this host is gone is failed,
    its MLflow run KILLED, and re-queued."""
    import socket
    import subprocess
    import sys

    journal = f"search.storage={tmp_path / 'study.log'}"
    search.run(compose_search("search.n_trials=1", journal), tmp_path / "a")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    client, _ = _runs(tmp_path)
    run = client.create_run(client.get_experiment_by_name("search").experiment_id, tags={"kind": "dead-trial"})
    study = _journal_study(tmp_path)
    stale = study.ask({"learning_rate": optuna.distributions.FloatDistribution(0.0003, 0.01, log=True)})
    stale.set_user_attr("worker", {"host": socket.gethostname(), "pid": gone.stdout.strip(), "pid_start": "1"})
    stale.set_user_attr("mlflow_run_id", run.info.run_id)
    search.run(compose_search("search.n_trials=2", journal), tmp_path / "b")
    study = _journal_study(tmp_path)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE]
    assert study.trials[2].system_attrs["failed_trial"] == 1  # the re-queued copy, run by this process
    assert study.trials[2].user_attrs["worker"]["pid"] == str(os.getpid())
    assert client.get_run(run.info.run_id).info.status == "KILLED"


def test_the_worker_of_the_last_trial_finalises():
    study = optuna.create_study()
    for value, pid in [(0.1, "1"), (0.2, "2"), (0.3, "1")]:
        study.add_trial(optuna.trial.create_trial(value=value, user_attrs={"worker": {"host": "h", "pid": pid}}))
    assert search.finaliser(study, {"host": "h", "pid": "1"})
    assert not search.finaliser(study, {"host": "h", "pid": "2"})
    assert search.finaliser(optuna.create_study(), {"host": "h", "pid": "2"})  # no trial: anyone


@pytest.mark.parametrize("overrides, message", [
    (["~search.space"], "search.space is empty"),
    (["search.space.learning_rate.low=0.1", "search.space.learning_rate.high=0.01"],
     "search.space.learning_rate: low (0.1) must be < high (0.01)"),
    (["search.n_trials=0"], "search.n_trials must be an integer >= 1, got 0"),
    (["search.space.epochs.path=training.nope"], "path 'training.nope' is not a key"),
    (["search.space.neighbors.choices=[0,40]"], "search.space.neighbors=40: neighbors=40 needs at least"),
    (["method=pcc"], "search tunes DeepDRIM: method must be one of deepdrim, cnnc, target_only, got 'pcc'"),
])
def test_bad_search_input_is_one_line(tmp_path, fake, overrides, message, compose_search):
    with pytest.raises(ValueError) as error:
        search.run(compose_search(*overrides), tmp_path / "out")
    assert message in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "optuna.db").exists()


def test_existing_study_with_another_space_is_refused(tmp_path, fake, compose_search):
    search.run(compose_search("search.n_trials=1"), tmp_path / "a")
    with pytest.raises(ValueError, match=r"study 'deepdrim-sim' .* different search space; pick a new name, "
                                         r"e\.g\. search\.study_name=deepdrim-sim-2$"):
        search.run(compose_search("search.n_trials=2", "search.space.epochs.high=3"), tmp_path / "b")
    search.run(compose_search("search.n_trials=1", "search.space.epochs.high=3",
                        "search.study_name=deepdrim-sim-2"), tmp_path / "c")
    assert len(_study(tmp_path, "deepdrim-sim-2").trials) == 1


def test_hyperband_pruner_spans_all_folds(compose_search):
    pruner = search_study.make_pruner(compose_search("search/pruner=hyperband"), 30)
    assert isinstance(pruner, optuna.pruners.HyperbandPruner) and pruner._max_resource == 30


@pytest.mark.slow
def test_run_py_prints_one_line_error_and_exits_2(tmp_path, run_py):
    done = run_py("search=optuna", "search.n_trials=0", f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
                  f"hydra.run.dir={tmp_path / 'out'}", timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == "error: search.n_trials must be an integer >= 1, got 0"
