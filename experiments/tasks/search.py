"""``task=search``: an Optuna search of DeepDRIM's hyperparameters, tracked in MLflow.

Objective (nested split, the outer test folds are never seen): for each TF-aware outer fold, fit
on its training pairs only; ``DeepDRIM.fit`` holds out validation TFs *inside* them (the inner
split, early stopping); the fold's value is ``search.metric`` at the best epoch (the weights
early stopping restores). The trial's value is the mean over the folds. Only the best trial's
configuration then sees the outer test folds, once (``cv_job.cross_validate``), in its own run.

Pruning: every epoch's validation metric is reported at step ``fold * stride + epoch`` with
``stride`` the largest ``training.epochs`` the space allows, so a step means the same fold and
epoch in every trial. Trials are claimed under a file lock beside the sqlite study, so parallel
workers neither duplicate nor overshoot ``n_trials`` (the target number of COMPLETE + PRUNED
trials of the study: re-running the command only runs the missing ones).
"""
from __future__ import annotations

import contextlib
import copy
import fcntl
import hashlib
import json
import logging
import os
import shlex
import socket
import tempfile
import threading
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np
import optuna
from mlflow.entities import Metric, Param as MlflowParam, RunTag
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, ListConfig, OmegaConf
from optuna.trial import TrialState

from deepdrim.cv import tf_aware_folds
from deepdrim.estimator import DeepDRIM
from deepdrim.metrics import per_tf_metrics
from experiments import artifacts, degrade, tracking
from experiments.tasks import cv as cv_job
from experiments import data as job_data

METRICS = ("val_auprc", "val_auroc", "val_loss")
DIRECTIONS = ("maximize", "minimize")
PRUNERS = ("median", "hyperband", "none")
SAMPLERS = ("tpe", "random")
KINDS = ("float", "int", "categorical")
COUNTED = (TrialState.COMPLETE, TrialState.PRUNED)  # what n_trials counts
# config keys that do not change a trial's value (left out of the study's identity)
NOT_IDENTITY = ("search", "task", "tracking", "force", "hydra", "study")


# ---------------------------------------------------------------------------- search space
@dataclass(frozen=True)
class Param:
    """One searched knob: Optuna name, the config path it sets, and its distribution."""

    name: str
    path: str
    kind: str
    low: Any = None
    high: Any = None
    log: bool = False
    step: Any = None
    choices: tuple = ()

    def suggest(self, trial: optuna.Trial):
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.name, self.low, self.high, step=self.step or 1, log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def extremes(self) -> list:
        """The values validated before the search starts (every choice, or both ends)."""
        return list(self.choices) if self.kind == "categorical" else [self.low, self.high]


def _number(where: str, key: str, value, kind: str):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where}: {key} must be a number, got {value!r}")
    if kind == "int" and not float(value).is_integer():
        raise ValueError(f"{where}: {key} must be an integer for type int, got {value!r}")
    return int(value) if kind == "int" else float(value)


def parse_space(space, cfg: DictConfig) -> list[Param]:
    """``search.space`` -> Params, checked against ``cfg`` (ValueError with a one-line message)."""
    if space is None or len(space) == 0:
        raise ValueError("search.space is empty: declare at least one parameter (see conf/search/optuna.yaml)")
    params = []
    for name, spec in space.items():
        where = f"search.space.{name}"
        if not isinstance(spec, (dict, DictConfig)):
            raise ValueError(f"{where} must be a mapping with type and low/high or choices, got {spec!r}")
        spec = dict(spec)
        path, kind = str(spec.get("path", name)), spec.get("type")
        if kind not in KINDS:
            raise ValueError(f"{where}: type must be one of {', '.join(KINDS)}, got {kind!r}")
        if OmegaConf.select(cfg, path, default="<missing>", throw_on_missing=False) == "<missing>":
            raise ValueError(f"{where}: path {path!r} is not a key of the configuration")
        if kind == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, (list, tuple, ListConfig)) or len(choices) == 0:
                raise ValueError(f"{where}: categorical needs a non-empty choices list")
            params.append(Param(str(name), path, kind, choices=tuple(choices)))
            continue
        if "low" not in spec or "high" not in spec:
            raise ValueError(f"{where}: type {kind} needs low and high")
        low, high = _number(where, "low", spec["low"], kind), _number(where, "high", spec["high"], kind)
        if low >= high:
            raise ValueError(f"{where}: low ({low}) must be < high ({high})")
        log, step = bool(spec.get("log", False)), spec.get("step")
        if log and low <= 0:
            raise ValueError(f"{where}: log scale needs low > 0, got {low}")
        if step is not None:
            step = _number(where, "step", step, kind)
            if step <= 0 or log:
                raise ValueError(f"{where}: step must be > 0 and cannot be combined with log")
        params.append(Param(str(name), path, kind, low, high, log, step))
    return params


def space_signature(params: list[Param]) -> str:
    """Canonical JSON of the space: stored on the study to refuse resuming it with another."""
    return json.dumps(sorted((asdict(p) for p in params), key=lambda p: p["name"]), sort_keys=True, default=list)


def apply_params(cfg: DictConfig, values: dict, params: list[Param]) -> DictConfig:
    """A copy of ``cfg`` with each searched value written at its path."""
    out = copy.deepcopy(cfg)
    for param in params:
        if param.name in values:
            OmegaConf.update(out, param.path, values[param.name], merge=False)
    return out


def epoch_stride(cfg: DictConfig, params: list[Param]) -> int:
    """Steps per fold in ``trial.report``: the largest number of epochs any trial can run."""
    for param in params:
        if param.path == "training.epochs":
            return int(max(param.extremes()))
    return int(cfg.training.epochs)


def _format(value) -> str:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple, ListConfig)):
        return "[" + ",".join(_format(v) for v in value) + "]"
    return str(value).lower() if isinstance(value, bool) else str(value)


def rerun_command(cfg: DictConfig, values: dict, params: list[Param], overrides: str) -> str:
    """``python run.py ...``: the user's own overrides (search ones dropped) plus the best values;
    a list element (``model.dense_units.0``) is written as the whole list."""
    paths = {}
    for param in params:
        head, _, tail = param.path.rpartition(".")
        key = head if tail.isdigit() else param.path
        paths[key] = OmegaConf.select(apply_params(cfg, values, params), key)
    kept = [o for o in overrides.split()
            if not o.lstrip("~+").startswith(("search", "task=", "hydra.")) and o.split("=")[0].lstrip("+~") not in paths]
    tokens = kept + [f"{key}={_format(value)}" for key, value in paths.items()]
    return "python run.py " + " ".join(shlex.quote(t) for t in tokens)


# ---------------------------------------------------------------------------- settings
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
        uri = tracking.resolve_uri(cfg.tracking.uri)
        prefix = "sqlite:///"
        folder = Path(uri[len(prefix):]).parent if uri.startswith(prefix) else tracking.PROJECT_ROOT / "mlflow"
        url = prefix + str(folder / "optuna.db")
    return tracking.resolve_uri(str(url))


def settings(cfg: DictConfig) -> Settings:
    """Check ``search.*`` (one-line ValueErrors) and return it."""
    search = cfg.get("search")
    if search is None:
        raise ValueError("task=search needs a search configuration: add search=optuna")
    n_trials = search.get("n_trials")
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise ValueError(f"search.n_trials must be an integer >= 1, got {n_trials!r}")
    if search.get("metric") not in METRICS:
        raise ValueError(f"search.metric must be one of {', '.join(METRICS)}, got {search.get('metric')!r}")
    if search.get("direction") not in DIRECTIONS:
        raise ValueError(f"search.direction must be maximize or minimize, got {search.get('direction')!r}")
    if not search.get("study_name"):
        raise ValueError("search.study_name must be a non-empty name")
    pruner = search.get("pruner") or {}
    if pruner.get("name", "median") not in PRUNERS:
        raise ValueError(f"search.pruner.name must be one of {', '.join(PRUNERS)}, got {pruner.get('name')!r}")
    sampler = search.get("sampler") or {}
    if sampler.get("name", "tpe") not in SAMPLERS:
        raise ValueError(f"search.sampler.name must be one of {', '.join(SAMPLERS)}, got {sampler.get('name')!r}")
    return Settings(str(search.study_name), n_trials, str(search.metric), str(search.direction), storage_url(cfg),
                    str(search.get("experiment") or "search"), bool(search.get("evaluate_best", True)))


def make_pruner(cfg: DictConfig, max_resource: int) -> optuna.pruners.BasePruner:
    """Median (default), Hyperband over ``max_resource`` steps, or none."""
    spec = cfg.search.get("pruner") or {}
    name = spec.get("name", "median")
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=int(spec.get("n_startup_trials", 5)),
                                           n_warmup_steps=int(spec.get("n_warmup_steps", 0)),
                                           interval_steps=int(spec.get("interval_steps", 1)))
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=int(spec.get("min_resource", 1)),
                                              max_resource=max_resource,
                                              reduction_factor=int(spec.get("reduction_factor", 3)))
    return optuna.pruners.NopPruner()


def make_sampler(cfg: DictConfig, trial_number: int) -> optuna.samplers.BaseSampler:
    """Seeded with ``seed`` and the trial number: a study's suggestions do not depend on how
    many processes shared it or when it was resumed."""
    spec = cfg.search.get("sampler") or {}
    seed = int(cfg.seed) * 100_003 + trial_number
    if spec.get("name", "tpe") == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=int(spec.get("n_startup_trials", 10)))


def identity(cfg: DictConfig, params: list[Param], conf: Settings) -> dict[str, str]:
    """What a study is: its space, metric, direction and the rest of the configuration."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    base = tracking.config_hash({k: v for k, v in resolved.items() if k not in NOT_IDENTITY})
    return {"search_space": space_signature(params), "metric": conf.metric, "direction": conf.direction,
            "base_config_hash": base}


def _free_name(storage: optuna.storages.BaseStorage, name: str) -> str:
    taken = {s.study_name for s in storage.get_all_studies()}
    n = 2
    while f"{name}-{n}" in taken:
        n += 1
    return f"{name}-{n}"


def open_study(conf: Settings, ident: dict, pruner) -> optuna.Study:
    """Create the study or load it; refuse one with another space, metric, direction or data."""
    storage = optuna.storages.RDBStorage(conf.storage, engine_kwargs={"connect_args": {"timeout": 120}})
    try:
        storage.get_study_id_from_name(conf.study_name)
        exists = True
    except KeyError:
        exists = False
    if exists:
        study = optuna.load_study(study_name=conf.study_name, storage=storage, pruner=pruner)
        for key, value in ident.items():
            if study.user_attrs.get(key, value) != value:
                what = key.replace("_", " ").replace("base config hash", "configuration (data, model, training)")
                raise ValueError(f"study {conf.study_name!r} in {conf.storage} was run with a different {what}; "
                                 f"pick a new name, e.g. search.study_name={_free_name(storage, conf.study_name)}")
        return study
    study = optuna.create_study(study_name=conf.study_name, storage=storage, direction=conf.direction,
                                pruner=pruner, load_if_exists=True)
    for key, value in ident.items():
        study.set_user_attr(key, value)
    return study


# ---------------------------------------------------------------------------- workers
def _lock_path(storage: str) -> Path:
    prefix = "sqlite:///"
    if storage.startswith(prefix):
        return Path(storage[len(prefix):] + ".lock")
    return Path(tempfile.gettempdir()) / f"optuna-{hashlib.sha256(storage.encode()).hexdigest()[:12]}.lock"


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Exclusive inter-process lock (flock) for claiming trials and finalising the study."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def worker_id() -> str:
    """host:pid:thread of this worker (stored on its trials and its finalise claim)."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def worker_alive(worker: Optional[str]) -> bool:
    """False only for a process of this host that no longer exists (other hosts: assumed alive)."""
    parts = (worker or "").split(":")
    if len(parts) != 3:
        return False
    host, pid = parts[0], parts[1]
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def fail_stale_trials(study: optuna.Study, client: MlflowClient) -> int:
    """RUNNING trials whose worker died become FAIL (their MLflow runs KILLED): a resume reruns them."""
    stale = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
             if not worker_alive(t.user_attrs.get("worker"))]
    for trial in stale:
        study.tell(trial.number, state=TrialState.FAIL)
        run_id = trial.user_attrs.get("mlflow_run_id")
        if run_id:
            with contextlib.suppress(Exception):
                _tags(client, run_id, {"state": "FAIL", "error": "worker process ended without finishing the trial"})
                tracking.with_retry(client.set_terminated, run_id, status="KILLED")
    return len(stale)


def claim_trial(study: optuna.Study, cfg: DictConfig, params: list[Param], target: int,
                lock: Path, client: MlflowClient) -> Optional[optuna.Trial]:
    """Under the lock: fail stale trials; if fewer than ``target`` trials are COMPLETE, PRUNED or
    RUNNING, create one and sample its parameters, else None."""
    with locked(lock):
        fail_stale_trials(study, client)
        trials = study.get_trials(deepcopy=False)
        if sum(t.state in (*COUNTED, TrialState.RUNNING, TrialState.WAITING) for t in trials) >= target:
            return None
        study.sampler = make_sampler(cfg, len(trials))
        trial = study.ask()
        trial.set_user_attr("worker", worker_id())
        for param in params:
            param.suggest(trial)
        return trial


# ---------------------------------------------------------------------------- MLflow through the client
def _tags(client: MlflowClient, run_id: str, tags: dict) -> None:
    tracking.with_retry(client.log_batch, run_id, tags=[RunTag(k, str(v)[:5000]) for k, v in tags.items()])


def _params(client: MlflowClient, run_id: str, params: dict) -> None:
    items = [MlflowParam(k, str(v)[:6000]) for k, v in params.items()]
    for start in range(0, len(items), 90):
        tracking.with_retry(client.log_batch, run_id, params=items[start:start + 90])


def _metrics(client: MlflowClient, run_id: str, metrics: dict, step: int = 0) -> None:
    now = int(time.time() * 1000)
    items = [Metric(k, float(v), now, step) for k, v in metrics.items() if v is not None and np.isfinite(v)]
    for start in range(0, len(items), 500):
        tracking.with_retry(client.log_batch, run_id, metrics=items[start:start + 500])


def parent_run(study: optuna.Study, client: MlflowClient, experiment_id: str, conf: Settings,
               cfg: DictConfig, lock: Path) -> str:
    """The study's one parent run (created once, reused on resume and by parallel workers)."""
    with locked(lock):
        run_id = study.user_attrs.get("mlflow_parent_run_id")
        if run_id:
            try:
                run = tracking.with_retry(client.get_run, run_id)
                if run.info.experiment_id == experiment_id and run.info.lifecycle_stage == "active":
                    if run.info.status != "RUNNING":
                        tracking.with_retry(client.update_run, run_id, status="RUNNING")
                    return run_id
            except Exception:  # noqa: BLE001 - a run of another store: make a new parent
                pass
        resolved = OmegaConf.to_container(cfg, resolve=True)
        run = tracking.with_retry(client.create_run, experiment_id, run_name=f"search: {conf.study_name}", tags={
            "kind": "search", "task": "search", "optuna_study": conf.study_name, "optuna_storage": conf.storage,
            "metric": conf.metric, "direction": conf.direction})
        _params(client, run.info.run_id, tracking.flatten({k: v for k, v in resolved.items() if k != "tracking"}))
        study.set_user_attr("mlflow_parent_run_id", run.info.run_id)
        return run.info.run_id


# ---------------------------------------------------------------------------- one trial
@dataclass
class Context:
    """What every trial of one worker shares."""

    cfg: DictConfig
    params: list[Param]
    conf: Settings
    data: job_data.JobData
    folds: list
    stride: int
    client: MlflowClient
    experiment_id: str
    parent_id: str
    study: optuna.Study


def evaluate(trial: optuna.Trial, ctx: Context, run_id: str) -> float:
    """Mean over the outer training folds of the validation metric at the best epoch; reports
    every epoch to the pruner (raises ``optuna.TrialPruned``). The test folds are not used."""
    trial_cfg = apply_params(ctx.cfg, trial.params, ctx.params)
    expression = ctx.data.expression.to_numpy()
    pairs, labels = ctx.data.pairs.pairs, ctx.data.pairs.labels
    values = []
    for k, (train, _test) in enumerate(ctx.folds):
        train = degrade.train_subset(trial_cfg, train, labels, k)

        def on_epoch(epoch: int, logs: dict, k: int = k) -> None:
            step = k * ctx.stride + epoch
            _metrics(ctx.client, run_id, {f"fold{k}/{name}": v for name, v in logs.items()}, step=epoch)
            value = logs.get(ctx.conf.metric, np.nan)
            if np.isfinite(value):
                _metrics(ctx.client, run_id, {f"reported/{ctx.conf.metric}": value}, step=step)
                trial.report(float(value), step)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned at fold {k} epoch {epoch} ({ctx.conf.metric}={value:.4f})")

        model = DeepDRIM(**cv_job.estimator_params(trial_cfg))
        model.fit(expression, pairs[train], labels[train], epoch_callback=on_epoch)
        best = model.best_epoch_
        value = model.history_[ctx.conf.metric][best] if best >= 0 else np.nan
        if not np.isfinite(value):
            raise ValueError(f"fold {k} has no validation split with both classes: no {ctx.conf.metric} to search on")
        _metrics(ctx.client, run_id, {f"fold{k}/best_{ctx.conf.metric}": value, f"fold{k}/best_epoch": best,
                                      f"fold{k}/epochs_run": len(model.history_["loss"])})
        values.append(float(value))
    return float(np.mean(values))


def run_trial(trial: optuna.Trial, ctx: Context) -> TrialState:
    """One trial in its nested MLflow run. PRUNED: run status KILLED with tag state=PRUNED."""
    start = time.time()
    run = tracking.with_retry(ctx.client.create_run, ctx.experiment_id, run_name=f"trial {trial.number}", tags={
        "mlflow.parentRunId": ctx.parent_id, "kind": "search-trial", "optuna_study": ctx.conf.study_name,
        "trial_number": str(trial.number), "state": "RUNNING", "worker": worker_id()})
    run_id = run.info.run_id
    trial.set_user_attr("mlflow_run_id", run_id)
    _params(ctx.client, run_id, {**trial.params, "trial_number": trial.number})
    try:
        value = evaluate(trial, ctx, run_id)
    except optuna.TrialPruned as pruned:
        ctx.study.tell(trial, state=TrialState.PRUNED)
        _metrics(ctx.client, run_id, {"wall_seconds": time.time() - start})
        _tags(ctx.client, run_id, {"state": "PRUNED", "pruned": str(pruned)})
        tracking.with_retry(ctx.client.set_terminated, run_id, status="KILLED")
        return TrialState.PRUNED
    except BaseException as error:
        ctx.study.tell(trial, state=TrialState.FAIL)
        _tags(ctx.client, run_id, {"state": "FAIL", "error": f"{type(error).__name__}: {error}"})
        status = "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"
        tracking.with_retry(ctx.client.set_terminated, run_id, status=status)
        raise
    ctx.study.tell(trial, values=value)
    _metrics(ctx.client, run_id, {"objective": value, "wall_seconds": time.time() - start})
    _tags(ctx.client, run_id, {"state": "COMPLETE"})
    tracking.with_retry(ctx.client.set_terminated, run_id, status="FINISHED")
    return TrialState.COMPLETE


# ---------------------------------------------------------------------------- the end of a study
def _counts(study: optuna.Study) -> dict[str, int]:
    states = [t.state for t in study.get_trials(deepcopy=False)]
    return {state.name: states.count(state) for state in TrialState}


def _axes_figure(axes):
    return (axes.ravel()[0] if isinstance(axes, np.ndarray) else axes).figure


def _note_figure(text: str):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 2.5))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    return fig


def study_figures(study: optuna.Study, out_dir: Path, seed: int) -> tuple[list[Path], dict[str, str]]:
    """Optuna's own matplotlib plots as PNGs: optimisation history, parameter importances,
    parallel coordinates, intermediate values. A plot that cannot be drawn (too few trials)
    becomes a PNG saying why. Returns the paths and {file name: note} for those."""
    from optuna.visualization import matplotlib as vis

    notes, paths = {}, []
    n_complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    plots = {
        "optimization_history.png": lambda: vis.plot_optimization_history(study),
        "param_importances.png": lambda: vis.plot_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=seed)),
        "parallel_coordinate.png": lambda: vis.plot_parallel_coordinate(study),
        "intermediate_values.png": lambda: vis.plot_intermediate_values(study),
    }
    for name, plot in plots.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                if name != "intermediate_values.png" and n_complete < (3 if "importances" in name else 1):
                    raise ValueError(f"needs {'3' if 'importances' in name else '1'}+ complete trials, "
                                     f"the study has {n_complete}")
                fig = _axes_figure(plot())
                if name == "parallel_coordinate.png":
                    fig.set_size_inches(max(8.0, 1.3 * len(study.best_trial.params) + 2), 5.0)
            except Exception as error:  # noqa: BLE001 - a plot Optuna cannot draw is noted, not fatal
                notes[name] = f"{name[:-4].replace('_', ' ')} not drawn: {error}"
                fig = _note_figure(notes[name])
        paths.append(artifacts.save_figure(fig, out_dir / name))
    return paths, notes


def best_on_test(study: optuna.Study, ctx: Context, out_dir: Path) -> tuple[str, dict]:
    """Train the best trial's configuration on the outer training folds and score the outer test
    folds once, in a nested ``best-on-test`` run; reused when it already FINISHED for this trial."""
    best = study.best_trial
    found = tracking.with_retry(ctx.client.search_runs, [ctx.experiment_id], filter_string=(
        f"tags.mlflow.parentRunId = '{ctx.parent_id}' and tags.kind = 'search-best' and "
        f"tags.trial_number = '{best.number}' and attributes.status = 'FINISHED'"), max_results=1)
    if found:
        return found[0].info.run_id, {k: v for k, v in found[0].data.metrics.items() if "/" not in k}
    best_cfg = apply_params(ctx.cfg, best.params, ctx.params)
    resolved = OmegaConf.to_container(best_cfg, resolve=True)
    run = tracking.with_retry(ctx.client.create_run, ctx.experiment_id, run_name=f"best-on-test (trial {best.number})",
                              tags={"mlflow.parentRunId": ctx.parent_id, "kind": "search-best",
                                    "optuna_study": ctx.conf.study_name, "trial_number": str(best.number)})
    run_id = run.info.run_id
    _params(ctx.client, run_id, tracking.flatten({k: v for k, v in resolved.items() if k not in ("tracking", "search")}))
    start = time.time()
    try:
        predictions = cv_job.cross_validate(best_cfg, ctx.data, lambda k, epoch, logs: _metrics(
            ctx.client, run_id, {f"fold{k}/{name}": v for name, v in logs.items()}, step=epoch))
        metrics = cv_job.fold_metrics(predictions)
        metrics["wall_seconds"] = time.time() - start
        _metrics(ctx.client, run_id, metrics)
        files = [artifacts.write_csv(predictions, out_dir / "predictions.csv"),
                 artifacts.write_csv(per_tf_metrics(predictions.tf, predictions.label, predictions.score).table,
                                     out_dir / "per_tf_metrics.csv"),
                 artifacts.write_text(OmegaConf.to_yaml(best_cfg, resolve=True), out_dir / "config.yaml")]
        for path in files:
            tracking.with_retry(ctx.client.log_artifact, run_id, str(path))
    except BaseException as error:
        _tags(ctx.client, run_id, {"error": f"{type(error).__name__}: {error}"[:5000]})
        tracking.with_retry(ctx.client.set_terminated, run_id, status="FAILED")
        raise
    tracking.with_retry(ctx.client.set_terminated, run_id, status="FINISHED")
    return run_id, {k: v for k, v in metrics.items() if "/" not in k}


def _claim_finalise(study: optuna.Study, lock: Path, n_counted: int) -> str:
    """'go' for the one worker that finalises this trial count, 'busy' while another live worker
    does, 'done' when it was finalised already (a re-run of a complete study only reprints it)."""
    with locked(lock):
        claim = study.user_attrs.get("finalise_claim") or {}
        if claim.get("count") == n_counted:
            if claim.get("done") and study.user_attrs.get("summary"):
                return "done"
            if not claim.get("done") and claim.get("worker") != worker_id() and worker_alive(claim.get("worker")):
                return "busy"
        study.set_user_attr("finalise_claim", {"count": n_counted, "worker": worker_id(), "done": False})
        return "go"


def finalise(study: optuna.Study, ctx: Context, output_dir: Path, overrides: str, lock: Path) -> dict:
    """Best params, figures, trials table, the best-on-test run and the re-run command on the
    parent run, which ends FINISHED."""
    counts = _counts(study)
    n_counted = counts["COMPLETE"] + counts["PRUNED"]
    out = Path(output_dir) / "search"
    trials = study.get_trials(deepcopy=False)
    durations = {t.number: (t.datetime_complete - t.datetime_start).total_seconds() for t in trials
                 if t.datetime_complete and t.datetime_start}
    complete = [durations[t.number] for t in trials if t.state == TrialState.COMPLETE and t.number in durations]
    pruned = [durations[t.number] for t in trials if t.state == TrialState.PRUNED and t.number in durations]
    summary: dict[str, Any] = {
        "study": ctx.conf.study_name, "storage": ctx.conf.storage, "metric": ctx.conf.metric,
        "direction": ctx.conf.direction, "n_trials_target": ctx.conf.n_trials, "counts": counts,
        "trial_seconds": sum(durations.values()), "pruned_trial_seconds": sum(pruned),
        # a pruned trial would have cost about a complete one: an estimate, not a measurement
        "estimated_seconds_saved_by_pruning": max(0.0, len(pruned) * float(np.mean(complete)) - sum(pruned))
        if complete else 0.0, "parent_run_id": ctx.parent_id}
    metrics = {"n_complete": counts["COMPLETE"], "n_pruned": counts["PRUNED"], "n_failed": counts["FAIL"],
               "trial_seconds": summary["trial_seconds"],
               "estimated_seconds_saved_by_pruning": summary["estimated_seconds_saved_by_pruning"]}
    files, notes = study_figures(study, out, int(ctx.cfg.seed))
    frame = study.trials_dataframe()
    files.append(artifacts.write_csv(frame, out / "trials.csv"))
    if counts["COMPLETE"]:
        best = study.best_trial
        command = rerun_command(ctx.cfg, best.params, ctx.params, overrides)
        summary.update(best_trial=best.number, best_value=best.value, best_params=best.params, rerun=command)
        metrics["best_value"] = best.value
        _tags(ctx.client, ctx.parent_id, {**{f"best.{k}": v for k, v in best.params.items()},
                                          "best_trial": best.number, "rerun_command": command})
        if ctx.conf.evaluate_best:
            run_id, test = best_on_test(study, ctx, out / "best_on_test")
            summary.update(best_on_test_run_id=run_id, test=test)
            metrics.update({f"test/{k}": v for k, v in test.items()})
            _tags(ctx.client, ctx.parent_id, {"best_on_test_run_id": run_id})
        files.append(artifacts.write_text(json.dumps(best.params, indent=2, default=str), out / "best_params.json"))
    summary["figure_notes"] = notes
    files.append(artifacts.write_text(json.dumps(summary, indent=2, default=str), out / "summary.json"))
    _metrics(ctx.client, ctx.parent_id, metrics)
    if notes:
        _tags(ctx.client, ctx.parent_id, {"figure_notes": "; ".join(notes.values())})
    for path in files:
        tracking.with_retry(ctx.client.log_artifact, ctx.parent_id, str(path))
    tracking.with_retry(ctx.client.set_terminated, ctx.parent_id, status="FINISHED")
    result = json.loads(json.dumps({**summary, **metrics}, default=str))
    with locked(lock):
        study.set_user_attr("summary", result)
        study.set_user_attr("finalise_claim", {"count": n_counted, "worker": worker_id(), "done": True})
    return result


def _print_summary(result: dict, wall: float) -> None:
    counts = result["counts"]
    print(f"search {result['study']}: {counts['COMPLETE'] + counts['PRUNED']} trials "
          f"({counts['COMPLETE']} complete, {counts['PRUNED']} pruned, {counts['FAIL']} failed); "
          f"this worker {wall:.0f}s; trial time {result['trial_seconds']:.0f}s, pruning saved "
          f"~{result['estimated_seconds_saved_by_pruning']:.0f}s (estimate); parent run {result['parent_run_id']}")
    if "best_trial" not in result:
        print("no trial completed: no best configuration")
        return
    print(f"best trial {result['best_trial']}: {result['metric']}={result['best_value']:.4f} "
          + " ".join(f"{k}={_format(v)}" for k, v in result["best_params"].items()))
    if "test" in result:
        test = result["test"]
        print(f"best on the outer test folds (run {result['best_on_test_run_id']}): "
              f"auroc={test.get('auroc', float('nan')):.3f} auprc={test.get('auprc', float('nan')):.3f}")
    print(f"re-run the best configuration as a normal job:\n  {result['rerun']}")


# ---------------------------------------------------------------------------- the task
def run(cfg: DictConfig, output_dir: Path, overrides: str = "") -> dict[str, float]:
    """The ``task=search`` job: check everything, open or resume the study, run the missing
    trials (sharing the study with any other worker), then finalise it."""
    start = time.time()
    conf = settings(cfg)
    params = parse_space(cfg.search.get("space"), cfg)
    if cfg.get("method", "deepdrim") not in cv_job.SUPERVISED:
        raise ValueError(f"search tunes DeepDRIM: method must be one of {', '.join(cv_job.SUPERVISED)}, "
                         f"got {cfg.method!r}")
    data = job_data.load(OmegaConf.to_container(cfg.data, resolve=True), int(cfg.seed))
    cv_job.validate(cfg, data)
    for param in params:  # every value the space can take must make a valid job
        for value in param.extremes():
            try:
                cv_job.validate(apply_params(cfg, {param.name: value}, params), data)
            except ValueError as error:
                raise ValueError(f"search.space.{param.name}={value!r}: {error}") from None
    data = degrade.degrade(cfg, data)
    folds = tf_aware_folds(data.pairs.pairs, int(cfg.cv.n_folds), random_state=int(cfg.seed))
    stride = epoch_stride(cfg, params)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # a fresh model per fold retraces predict
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    lock = _lock_path(conf.storage)
    with locked(lock):  # two workers starting on fresh stores would both create their tables
        study = open_study(conf, identity(cfg, params, conf), make_pruner(cfg, len(folds) * stride))
        experiment_id = tracking.setup(cfg.tracking.uri, cfg.tracking.artifact_root, conf.experiment)
    client = MlflowClient(tracking.resolve_uri(cfg.tracking.uri))
    parent_id = parent_run(study, client, experiment_id, conf, cfg, lock)
    ctx = Context(cfg, params, conf, data, folds, stride, client, experiment_id, parent_id, study)
    print(f"study {conf.study_name!r} in {conf.storage}: target {conf.n_trials} trials, "
          f"{sum(_counts(study)[s.name] for s in COUNTED)} done; MLflow parent run {parent_id}")
    try:
        while (trial := claim_trial(study, cfg, params, conf.n_trials, lock, client)) is not None:
            began = time.time()
            state = run_trial(trial, ctx)
            value = study.trials[trial.number].value  # a pruned trial's: its last reported value
            shown = (f"{conf.metric}={value:.4f}" if state == TrialState.COMPLETE else
                     f"last reported {conf.metric}={value:.4f}" if value is not None else "no value")
            print(f"trial {trial.number} {state.name} ({shown}) {time.time() - began:.0f}s "
                  + " ".join(f"{k}={_format(v)}" for k, v in trial.params.items()), flush=True)
    except BaseException as error:
        status = "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"
        _tags(client, parent_id, {"error": f"{type(error).__name__}: {error}"[:5000]})
        tracking.with_retry(client.set_terminated, parent_id, status=status)
        raise
    counts = _counts(study)
    if counts["RUNNING"]:
        print(f"{counts['RUNNING']} trial(s) still running in other workers: the last one to finish "
              f"finalises the study")
        return {"n_complete": float(counts["COMPLETE"]), "n_pruned": float(counts["PRUNED"])}
    claim = _claim_finalise(study, lock, counts["COMPLETE"] + counts["PRUNED"])
    if claim == "busy":
        print("another worker is finalising the study")
        return {"n_complete": float(counts["COMPLETE"]), "n_pruned": float(counts["PRUNED"])}
    if claim == "done":  # nothing was missing: the study's summary as it was logged
        result = study.user_attrs["summary"]
        tracking.with_retry(client.set_terminated, parent_id, status="FINISHED")
    else:
        result = finalise(study, ctx, output_dir, overrides, lock)
    _print_summary(result, time.time() - start)
    out = {k: float(v) for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    out.update({k: float(v) for k, v in result.get("test", {}).items()})
    return out
