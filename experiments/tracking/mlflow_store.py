"""The MLflow store: where it lives (sqlite under ``mlflow/`` or a server), its atomic creation,
the lock beside it, retries on a busy sqlite file, and signals held while a store call is under way."""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator, Optional

import mlflow
from mlflow.tracking import MlflowClient

from experiments.config.paths import PROJECT_ROOT
from experiments.tracking import mlflow_ui, server

SQLITE = "sqlite:///"


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


def with_retry(fn, *args, attempts: int = 30, **kwargs):
    """Call ``fn`` retrying on sqlite's 'database is locked' (parallel workers share one store);
    a signal that arrives meanwhile is raised when the call ends (:func:`signals_held`), and a
    retry does not start once one is held."""
    with signals_held():
        for attempt in range(attempts):
            try:
                return fn(*args, **kwargs)
            except Exception as error:  # noqa: BLE001 - only the lock error is retried
                if "locked" not in str(error).lower() or attempt == attempts - 1 or _held_signal is not None:
                    raise
                time.sleep(0.2 * (attempt + 1))


_store_calls = 0  # store calls under way in the main thread (the one a signal handler runs in)
_held_signal: Optional[int] = None


def hold_signal(signum: int) -> bool:
    """For a signal handler: True (and ``signum`` kept, raised again when the call ends) while a
    store call is under way. An exception raised inside sqlite leaves the interrupted statement
    holding the file's read lock, so the KILLED mark written next would wait on this process's
    own lock until the retries give up."""
    global _held_signal
    if _store_calls:
        _held_signal = signum
        return True
    return False


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """A store call: a signal that arrives in it (see :func:`hold_signal`) is raised once it ends."""
    global _store_calls, _held_signal
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _store_calls += 1
    try:
        yield
    finally:
        _store_calls -= 1
        if not _store_calls and _held_signal is not None:
            signum, _held_signal = _held_signal, None
            signal.raise_signal(signum)


#: a sqlite store is built under this name beside its final path, then renamed into place
CREATING = ".creating-"


def finished_by_id(client: MlflowClient, run_id: str) -> Optional[mlflow.entities.Run]:
    """The run ``run_id`` if it is still FINISHED (None when deleted since, or not FINISHED)."""
    try:
        run = with_retry(client.get_run, run_id)
    except Exception:  # noqa: BLE001 - deleted since
        return None
    return run if run.info.status == "FINISHED" else None


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
        location = server.artifact_location(uri, resolve_artifact_root(artifact_root, uri))
        try:
            return with_retry(mlflow_ui.create_training_experiment, client, experiment, location)
        except Exception:  # created meanwhile by a parallel worker
            found = with_retry(client.get_experiment_by_name, experiment)
            if found is None:
                raise
    with_retry(mlflow_ui.mark_model_training, client, found.experiment_id)
    return found.experiment_id
