"""Two worker processes share one Optuna study through a journal file (or sqlite) storage."""
import multiprocessing
import os

import pytest

N_PER_WORKER = 6


def _objective(trial):
    """Tiny objective with intermediate values, so the median pruner can prune."""
    import time

    x = trial.suggest_float("x", -1.0, 1.0)
    trial.set_user_attr("pid", os.getpid())
    for step in range(4):
        trial.report((x - 0.3) ** 2 + 0.1 * step, step)
        if trial.should_prune():
            import optuna

            raise optuna.TrialPruned()
        time.sleep(0.01)
    return (x - 0.3) ** 2


def _worker(storage_url, seed):
    import optuna

    from experiments.tracking.optuna_storage import load_or_create_study, optuna_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = load_or_create_study(optuna_storage(storage_url), "shared", direction="minimize",
                                 sampler=optuna.samplers.RandomSampler(seed=seed),
                                 pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1))
    study.optimize(_objective, n_trials=N_PER_WORKER)


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_two_processes_share_one_study(tmp_path, kind):
    import optuna

    from experiments.tracking.optuna_storage import optuna_storage

    url = str(tmp_path / "study.log") if kind == "journal" else f"sqlite:///{tmp_path / 'study.db'}"
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold TensorFlow
    workers = [context.Process(target=_worker, args=(url, seed)) for seed in (0, 1)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [w.exitcode for w in workers] == [0, 0]

    storage = optuna_storage(url)
    assert isinstance(storage, optuna.storages.JournalStorage if kind == "journal" else optuna.storages.RDBStorage)
    trials = optuna.load_study(study_name="shared", storage=storage).trials
    assert len(trials) == 2 * N_PER_WORKER
    assert sorted(t.number for t in trials) == list(range(2 * N_PER_WORKER))
    assert len({t.user_attrs["pid"] for t in trials}) == 2
    states = {t.state for t in trials}
    assert states <= {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED}
    # pruning works across workers: a trial clearly worse at every step than the median is pruned
    assert optuna.trial.TrialState.PRUNED in states, [t.state for t in trials]


def test_storage_kinds_and_errors(tmp_path):
    import optuna

    from experiments.tracking.optuna_storage import optuna_storage

    journal = optuna_storage(tmp_path / "sub" / "s.log", open_lock=True)
    assert isinstance(journal, optuna.storages.JournalStorage) and (tmp_path / "sub" / "s.log").exists()
    assert isinstance(optuna_storage(f"sqlite:///{tmp_path / 'x.db'}", heartbeat_interval=60),
                      optuna.storages.RDBStorage)
    with pytest.raises(ValueError, match="journal .log path"):
        optuna_storage(tmp_path / "plain.txt")
    with pytest.raises(ValueError, match="heartbeat_interval"):
        optuna_storage(tmp_path / "s.log", heartbeat_interval=60)
    with pytest.raises(ValueError, match="empty"):
        optuna_storage(" ")
