"""Two ``python run.py search=optuna`` workers on one Optuna journal file (docs/scale-out.md): the
real estimator, tiny, in two concurrent processes sharing one study and one MLflow store."""
import subprocess
import sys

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from tests.conftest import ROOT, TINY
from tests.test_search import SMALL_SPACE

N_TRIALS = 3


@pytest.mark.slow
def test_two_run_py_workers_share_one_journal_study(tmp_path, store):
    journal = tmp_path / "study.log"
    # the documented command (docs/scale-out.md), tiny: 16 TFs so a fold keeps >= 4 validation TFs
    args = ["search=optuna", f"search.n_trials={N_TRIALS}", f"search.storage={journal}", *TINY, *SMALL_SPACE,
            "data.n_tfs=16", "search.validation_fraction=0.6", f"tracking.uri={store}", f"paths.store={tmp_path}"]
    workers = [subprocess.Popen([sys.executable, str(ROOT / "run.py"), *args, f"hydra.run.dir={tmp_path / name}"],
                                cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for name in ("w1", "w2")]
    outputs = [worker.communicate(timeout=600)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], "\n".join(o[-3000:] for o in outputs)

    study = optuna.load_study(study_name="deepdrim-sim", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))))
    counted = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(counted) == N_TRIALS and sorted(t.number for t in counted) == list(range(N_TRIALS))
    assert all(t.user_attrs.get("surplus") for t in study.trials if t not in counted)  # untrained extras only
    pids = {str(worker.pid) for worker in workers}
    assert {t.user_attrs["worker"]["pid"] for t in counted} == pids  # both workers ran trials

    client = MlflowClient(store)
    runs = client.search_runs([client.get_experiment_by_name("search").experiment_id])
    trial_runs = {int(r.data.tags["trial_number"]): r for r in runs if r.data.tags["kind"] == "search-trial"}
    assert sorted(trial_runs) == list(range(N_TRIALS))  # one run per trial, none twice
    for trial in counted:
        run = trial_runs[trial.number]
        assert run.info.run_id == trial.user_attrs["mlflow_run_id"] and run.data.tags["pid"] in pids
        assert run.data.tags["state"] == trial.state.name
        assert run.info.status == ("FINISHED" if trial.state == TrialState.COMPLETE else "KILLED")  # KILLED: pruned
    kinds = [r.data.tags["kind"] for r in runs]
    assert kinds.count("search") == 1 and kinds.count("search-best") == 1  # finalised once
    assert all(r.info.status == "FINISHED" for r in runs if r.data.tags["kind"] in ("search", "search-best"))
    assert sum("re-run the best configuration" in output for output in outputs) == 1
