"""The Optuna side of ``task=search``: ``search.*`` checked, the storage (heartbeats, re-queued
trials of dead workers), the sampler re-seeded per trial, the pruner from its ``_target_`` config,
the study created or resumed (refused when its space, metric or data changed) and its one MLflow
parent run."""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import optuna
from hydra.utils import instantiate
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf
from optuna.trial import FrozenTrial, TrialState

from deepdrim._validation import check_choice, check_integer, check_real
from deepdrim.choices import MONITORS
from experiments.config.paths import project_path
from experiments.tracking import optuna_storage, job_runs, mlflow_store
from experiments.config.search_space import Param, space_signature

DIRECTIONS = ("maximize", "minimize")
# config keys that do not change a trial's value (left out of the study's identity): a job's volatile
# keys, and the search's own settings, task and study name
NOT_IDENTITY = job_runs.VOLATILE_KEYS + ("search", "task", "study")


@dataclass(frozen=True)
class Settings:
    """``search.*`` validated."""

    study_name: str
    n_trials: int
    metric: str
    direction: str
    storage: str
    experiment: str
    evaluate_best: bool


def storage_url(cfg: DictConfig) -> str:
    """``search.storage``, default ``optuna.db`` beside the MLflow sqlite store (relative sqlite
    paths resolved against the project root, like the MLflow store)."""
    url = cfg.search.get("storage")
    if not url:
        db = mlflow_store.sqlite_path(cfg.tracking.uri)
        url = mlflow_store.SQLITE + str((db.parent if db else project_path(cfg.paths.store)) / "optuna.db")
    if optuna_storage.is_journal(url):  # a journal file on a shared filesystem
        return str(project_path(url))
    return mlflow_store.resolve_uri(str(url))


def settings(cfg: DictConfig) -> Settings:
    """Check ``search.*`` (one-line ValueErrors) and return it."""
    search = cfg.get("search")
    if search is None:
        raise ValueError("task=search needs a search configuration: add search=optuna")
    n_trials = check_integer("search.n_trials", search.get("n_trials"), 1)
    metric = check_choice("search.metric", search.get("metric"), MONITORS)  # a trial scores what a fit monitors
    direction = check_choice("search.direction", search.get("direction"), DIRECTIONS)
    check_real("search.validation_fraction", search.get("validation_fraction", 0.2), 0, 1,
                  low_open=True, high_open=True)
    if not search.get("study_name"):
        raise ValueError("search.study_name must be a non-empty name")
    return Settings(str(search.study_name), n_trials, metric, direction, storage_url(cfg),
                    str(search.get("experiment") or "search"), bool(search.get("evaluate_best", True)))


def make_pruner(cfg: DictConfig, max_resource: int) -> optuna.pruners.BasePruner:
    """``search.pruner`` (a ``_target_`` config: conf/search/pruner/); Hyperband's resource spans all folds."""
    pruner = cfg.search.pruner
    extra = {"max_resource": max_resource} if "HyperbandPruner" in str(pruner.get("_target_")) else {}
    return instantiate(pruner, **extra)


class TrialSeededSampler(optuna.samplers.BaseSampler):
    """``search.sampler`` re-made for every trial with seed ``seed * 100003 + trial number``: a
    study's suggestions do not depend on how many processes shared it or when it was resumed."""

    def __init__(self, make, seed: int) -> None:
        self._make, self._seed = make, seed
        self._sampler = make(seed=seed)

    def before_trial(self, study, trial) -> None:
        self._sampler = self._make(seed=self._seed * 100_003 + trial.number)
        self._sampler.before_trial(study, trial)

    def infer_relative_search_space(self, study, trial):
        return self._sampler.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._sampler.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._sampler.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values) -> None:
        self._sampler.after_trial(study, trial, state, values)


def identity(cfg: DictConfig, params: list[Param], conf: Settings) -> dict[str, str]:
    """What a study is: its space, metric, direction and the rest of the configuration."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    base = job_runs.config_hash({k: v for k, v in resolved.items() if k not in NOT_IDENTITY})
    return {"search_space": space_signature(params), "metric": conf.metric, "direction": conf.direction,
            "base_config_hash": base}


def end_run(client: MlflowClient, run_id: str, status: str = "FINISHED", metrics=None, raised=None, **tags) -> None:
    """Log a trial's or the parent's last ``metrics`` and ``tags`` and end it with ``status``; an
    exception ``raised`` adds tag ``error`` and ends it FAILED (KILLED on Ctrl-C)."""
    if raised is not None:
        tags["error"] = f"{type(raised).__name__}: {raised}"
        status = "KILLED" if isinstance(raised, KeyboardInterrupt) else "FAILED"
    job_runs.log_batch(client, run_id, metrics=metrics, tags=tags)
    mlflow_store.with_retry(client.set_terminated, run_id, status=status)


def on_dead_trial(cfg: DictConfig, client: MlflowClient):
    """What happens to a trial whose worker died: its MLflow run is KILLED (tag state=FAIL) and
    the trial re-queued by ``RetryHeartbeatStaleTrialCallback`` (``search.heartbeat.max_retry``)."""
    beat = cfg.search.get("heartbeat") or {}
    retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=int(beat.get("max_retry", 3)))

    def failed(study: optuna.Study, trial: FrozenTrial) -> None:
        run_id = trial.user_attrs.get("mlflow_run_id")
        if run_id:
            end_run(client, run_id, "KILLED", state="FAIL", error="worker stopped (no heartbeat)")
        queued = copy.copy(trial)  # the re-queued copy is not the dead worker's, nor its run's
        queued.user_attrs = {k: v for k, v in trial.user_attrs.items() if k not in ("worker", "mlflow_run_id")}
        retry(study, queued)

    return failed


def open_storage(cfg: DictConfig, client: MlflowClient) -> optuna.storages.BaseStorage:
    """The study's storage with heartbeats: a trial whose worker stopped beating for
    ``search.heartbeat.grace_period`` s is failed (its MLflow run KILLED) and re-queued."""
    beat = cfg.search.get("heartbeat") or {}
    url = storage_url(cfg)
    if optuna_storage.is_journal(url):  # no heartbeats in a journal file: see fail_dead_local_trials
        return optuna_storage.optuna_storage(url)
    engine = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else {}
    return optuna_storage.optuna_storage(
        url, engine_kwargs=engine, heartbeat_interval=int(beat.get("interval", 30)),
        grace_period=int(beat.get("grace_period", 120)), heartbeat_stale_trial_callback=on_dead_trial(cfg, client))


def fail_dead_local_trials(study: optuna.Study, on_dead) -> list[int]:
    """A journal file has no heartbeats: fail (and re-queue through ``on_dead``) the RUNNING trials
    whose worker (user attr ``worker``: host, pid, pid start) ran on this host and has provably
    ended. A dead worker of another machine cannot be told; its trial stays RUNNING. Returns
    the failed trial numbers."""
    dead = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not job_runs.process_gone(trial.user_attrs.get("worker") or {}):
            continue
        try:
            study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:  # another worker failed it first
            continue
        on_dead(study, study._storage.get_trial(trial._trial_id))
        dead.append(trial.number)
    return dead


def open_study(conf: Settings, ident: dict, storage, pruner, sampler) -> tuple[optuna.Study, bool]:
    """(study, created): create it, or load it and refuse one of another space, metric, direction or data."""
    try:
        study = optuna.create_study(study_name=conf.study_name, storage=storage, direction=conf.direction,
                                    pruner=pruner, sampler=sampler)
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=conf.study_name, storage=storage, pruner=pruner, sampler=sampler)
        for key, value in ident.items():
            if study.user_attrs.get(key, value) != value:
                what = key.replace("_", " ").replace("base config hash", "configuration (data, model, training)")
                taken = {s.study_name for s in storage.get_all_studies()}
                free = next(f"{conf.study_name}-{n}" for n in range(2, 10**6) if f"{conf.study_name}-{n}" not in taken)
                raise ValueError(f"study {conf.study_name!r} in {conf.storage} was run with a different {what}; "
                                 f"pick a new name, e.g. search.study_name={free}") from None
        return study, False
    for key, value in ident.items():
        study.set_user_attr(key, value)
    return study, True


def parent_run(study: optuna.Study, created: bool, client: MlflowClient, experiment_id: str, conf: Settings,
               cfg: DictConfig) -> str:
    """The study's one parent run: made by the worker that created the study (the others wait
    for its id), reopened on resume; a new one when the stored one is not in this store."""
    deadline = time.time() + (0 if created else 60)
    while not (run_id := study.user_attrs.get("mlflow_parent_run_id")) and time.time() < deadline:
        time.sleep(0.2)
    if run_id:
        try:
            run = mlflow_store.with_retry(client.get_run, run_id)
            if run.info.experiment_id == experiment_id and run.info.lifecycle_stage == "active":
                if run.info.status != "RUNNING":
                    mlflow_store.with_retry(client.update_run, run_id, status="RUNNING")
                return run_id
        except Exception:  # noqa: BLE001 - a run of another store: make a new parent
            pass
    run = mlflow_store.with_retry(client.create_run, experiment_id, run_name=f"search: {conf.study_name}", tags={
        "kind": "search", "task": "search", "optuna_study": conf.study_name, "optuna_storage": conf.storage,
        "metric": conf.metric, "direction": conf.direction})
    resolved = OmegaConf.to_container(cfg, resolve=True)
    job_runs.log_batch(client, run.info.run_id,
                       params=job_runs.flatten({k: v for k, v in resolved.items() if k not in job_runs.VOLATILE_KEYS}))
    study.set_user_attr("mlflow_parent_run_id", run.info.run_id)
    return run.info.run_id
