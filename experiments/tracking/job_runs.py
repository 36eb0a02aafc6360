"""One MLflow run per job: config hash, skip/resume, tags, run name, the config artifact, FAILED/KILLED
runs. :func:`run_job` is the one job wrapper every task uses; a task's ``compute`` only returns a
:class:`JobResult`."""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import time
from pathlib import Path
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

import mlflow
import numpy as np
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

from deepdrim.files import write_text
from experiments.config.paths import shipped_targets
from experiments.tracking.mlflow_store import file_lock, lock_dir, resolve_uri, setup, with_retry

PARENT_RUN_ENV = "DEEPDRIM_PARENT_RUN_ID"
HASH_TAG = "config_hash"
#: the computation's identity across studies and experiments (:func:`compute_hash`)
COMPUTE_TAG = "compute_hash"
# keys that never change a job's result: where it is logged, and the force flag itself
VOLATILE_KEYS = ("tracking", "force", "hydra", "paths", "figure")
#: the signal that is ending this process ("SIGTERM", "SIGINT"), set by ``run.py``; None while running
INTERRUPTED: Optional[str] = None
#: the run the last interrupt ended KILLED (for ``run.py``'s one-line message)
KILLED_RUN: Optional[str] = None
#: the run the last job's error ended FAILED (``run.py`` records one itself when the job had none yet)
FAILED_RUN: Optional[str] = None
#: the keys a multirun sweeps (comma-separated), set by its parent callback: children are named by them
SWEPT_ENV = "DEEPDRIM_SWEPT_KEYS"
#: overrides (and params) that say where things are logged or drawn, never what a job computes: left out of
#: run names and of the report's method labels
WHERE_PREFIXES = ("tracking.", "hydra.", "paths.", "figure.")


class Terminated(KeyboardInterrupt):
    """SIGTERM as an exception: unwinds like Ctrl-C, so the running job's run ends KILLED."""

    def __init__(self, signum: int = 15) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum


def raise_if_interrupted() -> None:
    """Raise the pending signal's exception when its handler ran but the exception it raised was
    swallowed on the way (a signal that lands in a finalizer or a C callback is printed as
    "Exception ignored" and lost): the flag is the record, so the job still ends KILLED."""
    if INTERRUPTED is not None:
        raise Terminated() if INTERRUPTED == "SIGTERM" else KeyboardInterrupt(INTERRUPTED)


def _process_start(pid: int) -> Optional[str]:
    """The kernel's start time of ``pid`` (clock ticks since boot, /proc/<pid>/stat field 22), so
    a recycled pid is not taken for the process that recorded it; None where unknown."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def process_tags() -> dict[str, str]:
    """Who runs this run: host, pid and the pid's start time (checked before a run is called stale)."""
    return {"host": socket.gethostname(), "pid": str(os.getpid()), "pid_start": _process_start(os.getpid()) or ""}


def process_gone(tags: dict) -> Optional[bool]:
    """True when the process a run's tags name has provably ended (this host, and its pid is not
    alive or now belongs to a later process); False when it is alive; None when it cannot be told
    (another host, or no host/pid tags)."""
    pid = tags.get("pid", "")
    if tags.get("host") != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    started = _process_start(int(pid))
    return bool(tags.get("pid_start")) and started is not None and started != tags["pid_start"]


def job_params(cfg, resolved: dict) -> dict[str, object]:
    """The job's MLflow params: every key that can change its result, each logged once. A key whose
    value is only another key (``model.n_neighbors: ${neighbors}``) is that key's mirror and is
    left out, so ``neighbors`` is the one name a sweep, a filter and a comparison use."""
    from omegaconf import OmegaConf

    raw = flatten(OmegaConf.to_container(cfg, resolve=False))
    return {key: value for key, value in flatten(without_shipped_targets(
        {k: v for k, v in resolved.items() if k not in VOLATILE_KEYS})).items() if not _mirror(raw.get(key))}


def without_shipped_targets(config: dict) -> dict:
    """``config`` without its groups' shipped ``_target_`` keys: they are neither params nor part of the
    hash (so the keys' arrival changed no job's identity); a user's own target stays in both."""
    return {key: {k: v for k, v in value.items() if not (k == "_target_" and v in shipped_targets())}
            if isinstance(value, dict) else value for key, value in config.items()}


def _mirror(value) -> bool:
    """Whether a raw config value is exactly one interpolation of another key (``${neighbors}``)."""
    return isinstance(value, str) and value.startswith("${") and value.endswith("}") and value.count("${") == 1 \
        and ":" not in value


def flatten(config: dict, prefix: str = "") -> dict[str, object]:
    """Nested dict -> {'a.b.c': value}, lists kept as their string."""
    flat: dict[str, object] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


#: nested keys added after runs were stored, at the value that reproduces the old behaviour: left
#: out of the hash at that value, so configurations from before them keep their identity
HASH_NEUTRAL = {("cv", "split"): "tf", ("model", "neighbor_values"): "raw", ("data", "dropout"): "logistic",
                ("data", "in_degree"): "uniform", ("ggm", "neighbor_rule"): "positive", ("ggm", "sensitivity"): 0.8,
                ("cv", "sensitivity"): 0.8, ("magic", "preprocess"): "auto",
                ("data", "network"): None, ("data", "max_tfs"): None, ("model", "inputs"): "all"}


def config_hash(config: dict) -> str:
    """Identity of a configuration: sha256 of the resolved config without volatile keys (and
    without top-level keys left null or :data:`HASH_NEUTRAL` keys at their neutral value, so adding
    an optional key does not re-run old work)."""
    stable = without_shipped_targets({k: v for k, v in config.items() if k not in VOLATILE_KEYS and v is not None})
    for (group, key), neutral in HASH_NEUTRAL.items():
        if isinstance(stable.get(group), dict) and stable[group].get(key, neutral) == neutral:
            stable[group] = {k: v for k, v in stable[group].items() if k != key}
    return hashlib.sha256(json.dumps(stable, sort_keys=True, default=str).encode()).hexdigest()[:16]


#: top-level keys that never change what a job computes
_NOT_COMPUTED = ("study",)


def compute_hash(config: dict) -> str:
    """Identity of a job's computation: :func:`config_hash` without the study it was run for and
    with ``cells: 1.0`` (every cell) written as null, so a configuration two studies share (fig4a's
    ``cells=1.0``, fig4c's ``neighbors=10``, fig4d's ``train_fraction=1.0``) is trained once.
    Other no-op values (a dropout knob at 0) stay distinct: a reused run is plotted at its own params."""
    same = {k: v for k, v in config.items() if k not in _NOT_COMPUTED}
    if same.get("cells") == 1.0 and isinstance(same.get("cells"), float):
        same["cells"] = None
    return config_hash(same)


def finished_run(experiment_id: str, chash: str) -> Optional[mlflow.entities.Run]:
    """The newest FINISHED run of this configuration, if any."""
    runs = with_retry(MlflowClient().search_runs, [experiment_id],
                      filter_string=f"tags.{HASH_TAG} = '{chash}' and attributes.status = 'FINISHED'",
                      max_results=1, order_by=["attributes.start_time DESC"])
    return runs[0] if runs else None


def same_computation(client, computes: set[str]) -> dict[str, mlflow.entities.Run]:
    """The newest FINISHED run of each compute hash in ``computes``, in any active experiment of
    the store (another study that ran the same job)."""
    found: dict[str, mlflow.entities.Run] = {}
    if not computes:
        return found
    experiments = [e.experiment_id for e in with_retry(client.search_experiments)]
    for compute in sorted(computes):  # the search language has no IN for tags: one query each
        runs = with_retry(client.search_runs, experiments,
                          filter_string=f"tags.{COMPUTE_TAG} = '{compute}' and attributes.status = 'FINISHED'",
                          order_by=["attributes.start_time DESC"], max_results=1)
        if runs:
            found[compute] = runs[0]
    return found


def close_stale_runs(experiment_id: str, chash: str) -> list:
    """Mark RUNNING runs of this configuration whose process is provably gone (or that carry no
    host/pid tags: written before they were recorded) KILLED; returns the RUNNING runs left, those
    of a live process or of another host."""
    client = MlflowClient()
    runs = with_retry(client.search_runs, [experiment_id],
                      filter_string=f"tags.{HASH_TAG} = '{chash}' and attributes.status = 'RUNNING'")
    alive = []
    for run in runs:
        tags = run.data.tags
        gone = process_gone(tags)
        if gone is False or (gone is None and "pid" in tags):
            alive.append(run)
            continue
        with_retry(client.set_terminated, run.info.run_id, status="KILLED")
        with_retry(client.set_tag, run.info.run_id, "error", "process ended without closing the run (killed)")
    return alive


def log_batch(client: MlflowClient, run_id: str, params: Optional[dict] = None, metrics: Optional[dict] = None,
              tags: Optional[dict] = None, step: int = 0) -> None:
    """Params, finite metrics (at ``step``) and tags on any run through ``client``, in the batch
    sizes MLflow accepts, values cut to its length limits."""
    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    batches = [
        ("params", [Param(k, str(v)[:6000]) for k, v in (params or {}).items()], 90),
        ("metrics", [Metric(k, float(v), now, step) for k, v in (metrics or {}).items()
                     if v is not None and np.isfinite(v)], 500),
        ("tags", [RunTag(k, str(v)[:5000]) for k, v in (tags or {}).items()], 90),
    ]
    for kind, items, size in batches:
        for start in range(0, len(items), size):
            with_retry(client.log_batch, run_id, **{kind: items[start:start + size]})


@contextlib.contextmanager
def tracked_run(experiment_id: str, run_name: str, params: dict, tags: dict) -> Iterator[mlflow.ActiveRun]:
    """One MLflow run, nested under the multirun's parent when there is one; ends FAILED with
    the error message when the body raises (KILLED on Ctrl-C)."""
    parent = os.environ.get(PARENT_RUN_ENV)
    if parent:
        tags = {**tags, "mlflow.parentRunId": parent}
    run = with_retry(mlflow.start_run, experiment_id=experiment_id, run_name=run_name, tags=tags)
    try:
        log_batch(MlflowClient(), run.info.run_id, params=params)
        yield run
    except BaseException as error:
        if not isinstance(error, KeyboardInterrupt) and INTERRUPTED is None:
            global FAILED_RUN
            message = f"{type(error).__name__}: {error}"
            with_retry(mlflow.set_tag, "error", message[:5000])
            with_retry(mlflow.end_run, status="FAILED")
            FAILED_RUN = run.info.run_id
            raise
        # a signal: raised wherever the handler ran, which may surface as another error (TensorFlow
        # tracing a function turns it into a SystemError), so the flag decides
        _end_killed(run.info.run_id, INTERRUPTED or ("SIGTERM" if isinstance(error, Terminated) else "SIGINT"))
        raise
    else:
        if INTERRUPTED is not None:  # the body outran a swallowed signal: not a finished run
            _end_killed(run.info.run_id, INTERRUPTED)
            raise_if_interrupted()
        with_retry(mlflow.end_run, status="FINISHED")


def _end_killed(run_id: str, signal_name: str) -> None:
    """End the active run KILLED by ``signal_name``, remembered for ``run.py``'s one line."""
    global KILLED_RUN
    with_retry(mlflow.set_tag, "error", f"interrupted ({signal_name})")
    with_retry(mlflow.end_run, status=RunStatus.to_string(RunStatus.KILLED))
    KILLED_RUN = run_id


def log_metrics(metrics: dict, step: Optional[int] = None) -> None:
    """Log the finite ``metrics`` on the active run (a NaN metric is left out, not logged as NaN);
    called every epoch, so a signal whose exception was swallowed ends the job here."""
    raise_if_interrupted()
    finite = {k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)}
    if finite:
        with_retry(mlflow.log_metrics, finite, step=step)


@dataclass
class JobResult:
    """What a task computed: its metrics, files to log, folders to log under an artifact path
    (``{"model": dir}``) and tags learnt while computing."""

    metrics: dict
    files: list = field(default_factory=list)
    folders: dict = field(default_factory=dict)
    tags: dict = field(default_factory=dict)


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def sweep_name(overrides: str, swept: Optional[str] = None) -> str:
    """A run's name from its overrides: in a multirun only the swept keys' values (``neighbors=10
    seed=1``: what tells the sweep's runs apart, readable when the UI cuts names short), else the
    overrides without where things are logged. ``swept``: comma-separated keys (default: the
    parent callback's :data:`SWEPT_ENV`)."""
    swept = os.environ.get(SWEPT_ENV) if swept is None else swept
    tokens = [o for o in overrides.split() if not o.startswith(WHERE_PREFIXES)]
    if swept:
        keys = set(swept.split(","))
        varying = [o for o in tokens if _key(o) in keys]
        if varying:
            return " ".join(varying)
    return " ".join(tokens)


def run_name(cfg, overrides: str, default: str) -> str:
    """``tracking.run_name``, else :func:`sweep_name` of the overrides, else ``default``."""
    return cfg.tracking.get("run_name") or sweep_name(overrides) or default


def record_failed_job(cfg, overrides: str, task: str, message: str) -> Optional[str]:
    """A FAILED run (under the multirun's parent) for a job that refused its input before its run
    started, with the one-line ``error`` tag and its params; returns its id (None when the store
    cannot take it: the error line is printed anyway)."""
    from omegaconf import OmegaConf

    try:
        resolved = OmegaConf.to_container(cfg, resolve=True)
        experiment_id = setup(cfg.tracking.uri, cfg.tracking.artifact_root, cfg.tracking.experiment)
        client = MlflowClient(resolve_uri(cfg.tracking.uri))
        tags = {HASH_TAG: config_hash(resolved), COMPUTE_TAG: compute_hash(resolved), "hydra_overrides": overrides,
                "task": task, "error": message[:5000],
                "study": cfg.get("study") or "adhoc", **process_tags()}
        if cfg.get("method"):
            tags["method"] = str(cfg.method)
        if os.environ.get(PARENT_RUN_ENV):
            tags["mlflow.parentRunId"] = os.environ[PARENT_RUN_ENV]
        run = with_retry(client.create_run, experiment_id, run_name=run_name(cfg, overrides, task), tags=tags)
        log_batch(client, run.info.run_id, params=job_params(cfg, resolved))
        with_retry(client.set_terminated, run.info.run_id, status="FAILED")
        return run.info.run_id
    except Exception as error:  # noqa: BLE001 - the job's own error line matters more
        logging.getLogger(__name__).warning("could not record the failed job in MLflow: %s", error)
        return None


def run_job(cfg, output_dir: Path, overrides: str, task: str, compute: Callable[[], JobResult], *,
            params: Optional[dict] = None, tags: Optional[dict] = None, resume: bool = True,
            default_name: Optional[str] = None) -> dict[str, float]:
    """One job in one MLflow run: with ``resume``, a configuration that already FINISHED, or that
    another live process is running (a per-configuration lock; RUNNING on another host), is skipped
    with one line (FINISHED: unless ``force``), and RUNNING leftovers of dead processes are marked
    KILLED; else ``compute()``
    runs inside the run, which gets the params (default: the resolved config without tracking),
    tags, ``config.yaml`` and the returned metrics and files. Returns the metrics."""
    from omegaconf import OmegaConf

    resolved = OmegaConf.to_container(cfg, resolve=True)
    chash = config_hash(resolved)
    experiment_id = setup(cfg.tracking.uri, cfg.tracking.artifact_root, cfg.tracking.experiment)
    # one process per configuration and store at a time: a second one on this host skips at once
    # (not for jobs that log a new run each time: predict, compare, report)
    lock = lock_dir(resolve_uri(cfg.tracking.uri)) / ".locks" / f"{experiment_id}-{chash}.lock"
    with file_lock(lock, blocking=False) if resume else contextlib.nullcontext(True) as mine:
        if not mine:
            print(f"[skip] configuration {chash} is running in another process (lock {lock}); not started twice")
            return {}
        return _run_locked(cfg, output_dir, overrides, task, compute, experiment_id, chash, resolved,
                           params=params, tags=tags, resume=resume, default_name=default_name)


def _run_locked(cfg, output_dir, overrides, task, compute, experiment_id, chash, resolved, *, params, tags,
                resume, default_name) -> dict[str, float]:
    from omegaconf import OmegaConf

    computation = compute_hash(resolved)
    if resume:
        alive = close_stale_runs(experiment_id, chash)
        if alive:
            other = alive[0].data.tags
            print(f"[skip] configuration {chash} is RUNNING as run {alive[0].info.run_id} "
                  f"(pid {other.get('pid')} on {other.get('host')}); not started twice")
            return {}
        done = None if cfg.get("force") else finished_run(experiment_id, chash)
        if done is not None:
            print(f"[skip] configuration {chash} already FINISHED as run {done.info.run_id} ({overrides or 'default'})")
            return dict(done.data.metrics)
        # a study's job reuses another study's run of the same computation; an ad-hoc job (task=cv,
        # search's best-on-test) trains as asked, with only its own experiment's resume
        shared = None if cfg.get("force") or not cfg.get("study") else same_computation(
            MlflowClient(), {computation}).get(computation)
        if shared is not None:
            print(f"[skip] configuration {chash}: the same computation FINISHED as run {shared.info.run_id} "
                  f"(study {shared.data.tags.get('study', 'adhoc')}); reused, not trained again ({overrides or 'default'})")
            return dict(shared.data.metrics)
    if params is None:
        params = job_params(cfg, resolved)
    tags = {HASH_TAG: chash, COMPUTE_TAG: computation, "hydra_overrides": overrides, "task": task,
            "output_dir": str(output_dir),
            "study": cfg.get("study") or "adhoc", **process_tags(), **(tags or {})}
    with tracked_run(experiment_id, run_name(cfg, overrides, default_name or task), params, tags):
        config_file = write_text(OmegaConf.to_yaml(cfg, resolve=True), Path(output_dir) / "config.yaml")
        result = compute()
        log_metrics(result.metrics)
        for key, value in result.tags.items():
            with_retry(mlflow.set_tag, key, str(value)[:5000])
        for path in [config_file, *result.files]:
            with_retry(mlflow.log_artifact, str(path))
        for name, folder in result.folders.items():
            with_retry(mlflow.log_artifacts, str(folder), artifact_path=name)
    return result.metrics
