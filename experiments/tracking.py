"""MLflow plumbing: the store under ``mlflow/``, one run per job, failures recorded, resume by config hash."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Iterator, Optional

import mlflow
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PARENT_RUN_ENV = "DEEPDRIM_PARENT_RUN_ID"
HASH_TAG = "config_hash"
# keys that never change a job's result: where it is logged, and the force flag itself
VOLATILE_KEYS = ("tracking", "force", "hydra")


def resolve_uri(uri: str) -> str:
    """A relative ``sqlite:///path`` is made absolute against the project root (Hydra may run
    from anywhere); the folder is created."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        path = PROJECT_ROOT / uri[len(prefix):]
        path.parent.mkdir(parents=True, exist_ok=True)
        return prefix + str(path)
    if uri.startswith(prefix):
        Path(uri[len(prefix):]).parent.mkdir(parents=True, exist_ok=True)
    return uri


def resolve_artifact_root(artifact_root: str, uri: str) -> str:
    """Artifacts beside a sqlite store given by absolute path, else under the project root."""
    root = Path(artifact_root)
    if root.is_absolute():
        return root.as_uri()
    prefix = "sqlite:///"
    default_db = PROJECT_ROOT / "mlflow" / "mlflow.db"
    if uri.startswith(prefix) and Path(uri[len(prefix):]) != default_db:
        return (Path(uri[len(prefix):]).parent / root.name).resolve().as_uri()
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


def config_hash(config: dict) -> str:
    """Identity of a configuration: sha256 of the resolved config without volatile keys (and
    without top-level keys left null, so adding an optional key does not re-run old work)."""
    stable = {k: v for k, v in config.items() if k not in VOLATILE_KEYS and v is not None}
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


def setup(uri: str, artifact_root: str, experiment: str) -> str:
    """Point MLflow at the store and make sure the experiment exists; returns its id."""
    uri = resolve_uri(uri)
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    found = with_retry(client.get_experiment_by_name, experiment)
    if found is None:
        try:
            return with_retry(client.create_experiment, experiment,
                              artifact_location=resolve_artifact_root(artifact_root, uri))
        except Exception:  # created meanwhile by a parallel worker
            found = with_retry(client.get_experiment_by_name, experiment)
            if found is None:
                raise
    return found.experiment_id


def finished_run(experiment_id: str, chash: str) -> Optional[mlflow.entities.Run]:
    """The newest FINISHED run of this configuration, if any."""
    runs = with_retry(MlflowClient().search_runs, [experiment_id],
                      filter_string=f"tags.{HASH_TAG} = '{chash}' and attributes.status = 'FINISHED'",
                      max_results=1, order_by=["attributes.start_time DESC"])
    return runs[0] if runs else None


def close_stale_runs(experiment_id: str, chash: str) -> int:
    """Mark RUNNING runs of this configuration left by a killed process as KILLED."""
    client = MlflowClient()
    runs = with_retry(client.search_runs, [experiment_id],
                      filter_string=f"tags.{HASH_TAG} = '{chash}' and attributes.status = 'RUNNING'")
    for run in runs:
        with_retry(client.set_terminated, run.info.run_id, status="KILLED")
        with_retry(client.set_tag, run.info.run_id, "error", "process ended without closing the run (killed)")
    return len(runs)


@contextlib.contextmanager
def tracked_run(experiment_id: str, run_name: str, params: dict, tags: dict) -> Iterator[mlflow.ActiveRun]:
    """One MLflow run, nested under the multirun's parent when there is one; ends FAILED with
    the error message when the body raises (KILLED on Ctrl-C)."""
    parent = os.environ.get(PARENT_RUN_ENV)
    if parent:
        tags = {**tags, "mlflow.parentRunId": parent}
    run = with_retry(mlflow.start_run, experiment_id=experiment_id, run_name=run_name, tags=tags)
    try:
        items = [(k, str(v)[:6000]) for k, v in params.items()]
        for start in range(0, len(items), 90):
            with_retry(mlflow.log_params, dict(items[start:start + 90]))
        yield run
    except KeyboardInterrupt:
        with_retry(mlflow.set_tag, "error", "interrupted (KeyboardInterrupt)")
        with_retry(mlflow.end_run, status=RunStatus.to_string(RunStatus.KILLED))
        raise
    except BaseException as error:
        message = f"{type(error).__name__}: {error}"
        with_retry(mlflow.set_tag, "error", message[:5000])
        with_retry(mlflow.end_run, status="FAILED")
        raise
    else:
        with_retry(mlflow.end_run, status="FINISHED")
