"""MLflow plumbing: the store under ``mlflow/``, one run per job, failures recorded, resume by config hash.

:func:`run_job` is the one job wrapper every task uses: config hash, skip/resume, tags, run name,
the config artifact, FAILED/KILLED runs; a task's ``compute`` only returns a :class:`JobResult`."""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import socket
import tempfile
import time
from pathlib import Path
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

import mlflow
import numpy as np
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

from experiments import artifacts, mlflow_ui, tracking_server

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PARENT_RUN_ENV = "DEEPDRIM_PARENT_RUN_ID"
HASH_TAG = "config_hash"
# keys that never change a job's result: where it is logged, and the force flag itself
VOLATILE_KEYS = ("tracking", "force", "hydra", "paths", "figure")
SQLITE = "sqlite:///"
#: the signal that is ending this process ("SIGTERM", "SIGINT"), set by ``run.py``; None while running
INTERRUPTED: Optional[str] = None
#: the run the last interrupt ended KILLED (for ``run.py``'s one-line message)
KILLED_RUN: Optional[str] = None
#: the run the last job's error ended FAILED (``run.py`` records one itself when the job had none yet)
FAILED_RUN: Optional[str] = None
#: the keys a multirun sweeps (comma-separated), set by its parent callback: children are named by them
SWEPT_ENV = "DEEPDRIM_SWEPT_KEYS"
#: overrides that say where things are logged, never what a job computes: left out of run names
WHERE_PREFIXES = ("tracking.", "hydra.", "paths.")


class Terminated(KeyboardInterrupt):
    """SIGTERM as an exception: unwinds like Ctrl-C, so the running job's run ends KILLED."""

    def __init__(self, signum: int = 15) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum


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


def lock_dir(uri: str) -> Path:
    """Where a store's lock files live: beside a sqlite database, else a per-URI temp folder."""
    db = sqlite_path(uri)
    if db is not None:
        return db.parent
    return Path(tempfile.gettempdir()) / f"deepdrim-locks-{hashlib.sha256(uri.encode()).hexdigest()[:12]}"


@contextlib.contextmanager
def file_lock(path: Path, blocking: bool = True) -> Iterator[bool]:
    """An exclusive ``fcntl`` lock on ``path`` for the block; yields False when ``blocking`` is off
    and another process holds it. The kernel drops it when its process dies (kill -9 included)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def sqlite_path(uri: str) -> Optional[Path]:
    """The database file of a ``sqlite:///`` URI (a relative one against the project root), else None."""
    if not uri.startswith(SQLITE):
        return None
    path = Path(uri[len(SQLITE):])
    return path if path.is_absolute() else PROJECT_ROOT / path


def project_path(path) -> Path:
    """``path`` as an absolute path, a relative one against the project root."""
    path = Path(str(path)).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def resolve_uri(uri: str) -> str:
    """A relative ``sqlite:///path`` is made absolute against the project root (Hydra may run
    from anywhere); the folder is created."""
    path = sqlite_path(uri)
    if path is None:
        return uri
    path.parent.mkdir(parents=True, exist_ok=True)
    return SQLITE + str(path)


def resolve_artifact_root(artifact_root: str, uri: str) -> str:
    """Artifacts beside a sqlite store given by absolute path, else under the project root."""
    root = Path(artifact_root)
    if root.is_absolute():
        return root.as_uri()
    db = sqlite_path(uri)
    if db is not None and db != PROJECT_ROOT / "mlflow" / "mlflow.db":
        return (db.parent / root.name).resolve().as_uri()
    return (PROJECT_ROOT / root).resolve().as_uri()


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
                ("magic", "preprocess"): "auto",
                ("data", "network"): None, ("data", "max_tfs"): None, ("model", "inputs"): "all"}


def config_hash(config: dict) -> str:
    """Identity of a configuration: sha256 of the resolved config without volatile keys (and
    without top-level keys left null or :data:`HASH_NEUTRAL` keys at their neutral value, so adding
    an optional key does not re-run old work)."""
    stable = {k: v for k, v in config.items() if k not in VOLATILE_KEYS and v is not None}
    for (group, key), neutral in HASH_NEUTRAL.items():
        if isinstance(stable.get(group), dict) and stable[group].get(key, neutral) == neutral:
            stable[group] = {k: v for k, v in stable[group].items() if k != key}
    return hashlib.sha256(json.dumps(stable, sort_keys=True, default=str).encode()).hexdigest()[:16]


def with_retry(fn, *args, attempts: int = 30, **kwargs):
    """Call ``fn`` retrying on sqlite's 'database is locked' (parallel workers share one store)."""
    for attempt in range(attempts):
        try:
            return fn(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - only the lock error is retried
            if "locked" not in str(error).lower() or attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


#: a sqlite store is built under this name beside its final path, then renamed into place
CREATING = ".creating-"


def half_built(path: Path) -> Optional[str]:
    """Why the sqlite file at ``path`` is not a complete MLflow store of this MLflow's schema (its
    creation was interrupted, or another MLflow version made it), as one line naming the fix;
    ``None`` for a complete store, a missing or empty file, or one that cannot be read now (a
    writer holds it). Read-only: opens the file with ``mode=ro`` and writes nothing."""
    import sqlite3

    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as con:
            tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not tables:
                return None  # an empty database: built from scratch like a missing file
            version = (con.execute("SELECT version_num FROM alembic_version").fetchall()
                       if "alembic_version" in tables else [])
            n_runs = con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] if "runs" in tables else 0
    except sqlite3.OperationalError as error:
        if "locked" in str(error).lower():
            return None
        return f"{path} cannot be read as an MLflow store ({error})"
    except sqlite3.DatabaseError as error:
        return f"{path} is not a readable SQLite database ({error})"
    from mlflow.store.db.utils import _get_latest_schema_revision

    head = _get_latest_schema_revision()
    current = version[0][0] if len(version) == 1 else None
    leftovers = sorted(t for t in tables if t.startswith("_alembic_tmp_"))
    if current == head and not leftovers:
        return None
    what = f"schema {current or 'none'}, MLflow {mlflow.__version__} writes {head}" + (
        f", leftover {leftovers[0]}" if leftovers else "")
    if n_runs == 0:
        return (f"{path} is a half-built MLflow store ({what}: its creation was interrupted) and holds no "
                f"runs: delete it (rm {path}) and run again")
    return (f"{path} is an MLflow store of another schema ({what}) holding {n_runs} runs: back it up, then "
            f"`mlflow db upgrade sqlite:///{path}`")


def _dispose(uri: str) -> None:
    """Close and forget MLflow's cached engine of ``uri`` (closes the file: no journal left)."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    engine = SqlAlchemyStore._engine_map.pop(uri, None)
    if engine is not None:
        engine.dispose()


def create_store(db: Path, artifact_root: str) -> None:
    """Create the sqlite store ``db`` atomically: MLflow builds its tables (dozens of schema
    migrations, not one transaction) in a temporary file beside it, which is then renamed into
    place, so a process killed meanwhile (SIGTERM, kill -9) leaves no half-built store, only a
    temporary file the next creation removes. Call it holding the store's lock."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    for stale in db.parent.glob(f"{db.name}{CREATING}*"):  # a killed creation's (we hold the lock)
        stale.unlink(missing_ok=True)
    tmp = db.with_name(f"{db.name}{CREATING}{os.getpid()}-{os.urandom(4).hex()}")
    tmp_uri = SQLITE + str(tmp)
    quiet = [logging.getLogger(name) for name in ("mlflow.store.db.utils", "alembic")]  # "Creating tables..."
    levels = [logger.level for logger in quiet]
    try:
        for logger in quiet:
            logger.setLevel(logging.WARNING)
        SqlAlchemyStore(tmp_uri, artifact_root)
        _dispose(tmp_uri)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, db)
    finally:
        _dispose(tmp_uri)
        for logger, level in zip(quiet, levels):
            logger.setLevel(level)
        for leftover in (tmp, tmp.with_name(tmp.name + "-journal")):
            leftover.unlink(missing_ok=True)


def setup(uri: str, artifact_root: str, experiment: str) -> str:
    """Point MLflow at the store and make sure the experiment exists; returns its id. A new sqlite
    store is created atomically (:func:`create_store`) under the lock beside it; a half-built
    one (:func:`half_built`) is refused with a ``ValueError`` naming the fix."""
    uri = resolve_uri(uri)
    mlflow.set_tracking_uri(uri)
    db = sqlite_path(uri)
    # one process at a time creates a new store (parallel first opens crash with "duplicate column name")
    with file_lock(db.with_name(db.name + ".lock")) if db is not None else contextlib.nullcontext():
        if db is not None:
            if not db.exists() or db.stat().st_size == 0:
                create_store(db, resolve_artifact_root(artifact_root, uri))
            problem = half_built(db)
            if problem is not None:
                raise ValueError(f"tracking.uri={uri}: {problem}")
        client = MlflowClient(uri)
        found = with_retry(client.get_experiment_by_name, experiment)
    if found is None:
        location = tracking_server.artifact_location(uri, resolve_artifact_root(artifact_root, uri))
        try:
            return with_retry(mlflow_ui.create_training_experiment, client, experiment, location)
        except Exception:  # created meanwhile by a parallel worker
            found = with_retry(client.get_experiment_by_name, experiment)
            if found is None:
                raise
    with_retry(mlflow_ui.mark_model_training, client, found.experiment_id)
    return found.experiment_id


def finished_run(experiment_id: str, chash: str) -> Optional[mlflow.entities.Run]:
    """The newest FINISHED run of this configuration, if any."""
    runs = with_retry(MlflowClient().search_runs, [experiment_id],
                      filter_string=f"tags.{HASH_TAG} = '{chash}' and attributes.status = 'FINISHED'",
                      max_results=1, order_by=["attributes.start_time DESC"])
    return runs[0] if runs else None


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
        global KILLED_RUN
        name = INTERRUPTED or ("SIGTERM" if isinstance(error, Terminated) else "SIGINT")
        with_retry(mlflow.set_tag, "error", f"interrupted ({name})")
        with_retry(mlflow.end_run, status=RunStatus.to_string(RunStatus.KILLED))
        KILLED_RUN = run.info.run_id
        raise
    else:
        with_retry(mlflow.end_run, status="FINISHED")


def log_metrics(metrics: dict, step: Optional[int] = None) -> None:
    """Log the finite ``metrics`` on the active run (a NaN metric is left out, not logged as NaN)."""
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
        tags = {HASH_TAG: config_hash(resolved), "hydra_overrides": overrides, "task": task, "error": message[:5000],
                "study": cfg.get("study") or "adhoc", **process_tags()}
        if cfg.get("method"):
            tags["method"] = str(cfg.method)
        if os.environ.get(PARENT_RUN_ENV):
            tags["mlflow.parentRunId"] = os.environ[PARENT_RUN_ENV]
        run = with_retry(client.create_run, experiment_id, run_name=run_name(cfg, overrides, task), tags=tags)
        log_batch(client, run.info.run_id, params=flatten({k: v for k, v in resolved.items() if k not in VOLATILE_KEYS}))
        with_retry(client.set_terminated, run.info.run_id, status="FAILED")
        return run.info.run_id
    except Exception as error:  # noqa: BLE001 - the job's own error line matters more
        import logging

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
    if params is None:
        params = flatten({k: v for k, v in resolved.items() if k not in VOLATILE_KEYS})
    tags = {HASH_TAG: chash, "hydra_overrides": overrides, "task": task, "output_dir": str(output_dir),
            "study": cfg.get("study") or "adhoc", **process_tags(), **(tags or {})}
    with tracked_run(experiment_id, run_name(cfg, overrides, default_name or task), params, tags):
        config_file = artifacts.write_text(OmegaConf.to_yaml(cfg, resolve=True), Path(output_dir) / "config.yaml")
        result = compute()
        log_metrics(result.metrics)
        for key, value in result.tags.items():
            with_retry(mlflow.set_tag, key, str(value)[:5000])
        for path in [config_file, *result.files]:
            with_retry(mlflow.log_artifact, str(path))
        for name, folder in result.folders.items():
            with_retry(mlflow.log_artifacts, str(folder), artifact_path=name)
    return result.metrics
