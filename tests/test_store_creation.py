"""A store survives interruption (issue #20): a new sqlite store is built in a temporary file and
renamed into place under its lock, so a signal during creation leaves no half-built store; a
half-built one (made by an interrupted creation before this) is refused with one line naming the fix."""
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow
import pytest

from experiments.config import store_checks
from experiments.tracking import mlflow_store
from tests.conftest import ROOT

#: a child that creates a store (``new``: through mlflow_store.setup; ``old``: MLflow's own first open,
#: as before) and says "migrating" when MLflow starts its schema migrations
CHILD = textwrap.dedent("""
    import sys
    import mlflow.store.db.utils as utils
    from experiments.tracking import mlflow_store
    upgrade = utils._upgrade_db
    def announced(engine):
        print("migrating", flush=True)
        upgrade(engine)
    utils._upgrade_db = announced
    how, db = sys.argv[1], sys.argv[2]
    if how == "new":
        mlflow_store.setup("sqlite:///" + db, "artifacts", "deepdrim")
    else:
        from mlflow.tracking import MlflowClient
        MlflowClient("sqlite:///" + db).search_experiments()
    print("done", flush=True)
""")


def _interrupted_creation(db: Path, how: str, sig: int) -> int:
    """Start creating ``db`` in a child, send ``sig`` as soon as its migrations start; its exit status."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, how, str(db)], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        for line in child.stdout:
            if line.strip() == "migrating":
                child.send_signal(sig)
                break
        return child.wait(timeout=300)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def _tables(db: Path) -> set:
    with sqlite3.connect(db) as con:
        return {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_setup_creates_a_complete_store_and_no_temporary_file(tmp_path):
    db = tmp_path / "mlflow.db"
    experiment_id = mlflow_store.setup(f"sqlite:///{db}", "artifacts", "deepdrim")
    assert mlflow_store.half_built(db) is None and {"runs", "metrics", "alembic_version"} <= _tables(db)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlflow.db", "mlflow.db.lock"]
    assert mlflow.MlflowClient(f"sqlite:///{db}").get_experiment(experiment_id).name == "deepdrim"


def test_an_interrupted_creation_leaves_no_store(tmp_path, monkeypatch):
    """The creation raises (as a signal would unwind it) midway through the migrations: the final
    path never exists, the temporary file is removed, and the next setup builds the store."""
    import mlflow.store.db.utils as utils

    upgrade = utils._upgrade_db

    def interrupted(engine):
        with engine.begin() as connection:  # some of the schema is written ...
            connection.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        raise KeyboardInterrupt  # ... then SIGINT/SIGTERM arrives

    db = tmp_path / "mlflow.db"
    monkeypatch.setattr(utils, "_upgrade_db", interrupted)
    with pytest.raises(KeyboardInterrupt):
        mlflow_store.setup(f"sqlite:///{db}", "artifacts", "deepdrim")
    assert not db.exists() and not list(tmp_path.glob(f"mlflow.db{mlflow_store.CREATING}*"))
    monkeypatch.setattr(utils, "_upgrade_db", upgrade)
    mlflow_store.setup(f"sqlite:///{db}", "artifacts", "deepdrim")
    assert mlflow_store.half_built(db) is None


def test_a_stale_temporary_file_of_a_killed_creation_is_removed(tmp_path):
    db = tmp_path / "mlflow.db"
    stale = tmp_path / f"mlflow.db{mlflow_store.CREATING}999999"
    stale.write_bytes(b"SQLite format 3\x00 half of a schema")
    mlflow_store.setup(f"sqlite:///{db}", "artifacts", "deepdrim")
    assert not stale.exists() and mlflow_store.half_built(db) is None


@pytest.mark.parametrize("damage, expected", [
    ("UPDATE alembic_version SET version_num = '0a8600c4ebd1'", "half-built MLflow store (schema 0a8600c4ebd1"),
    ("DROP TABLE alembic_version", "half-built MLflow store (schema none"),
    ("CREATE TABLE _alembic_tmp_experiments (x INTEGER)", "leftover _alembic_tmp_experiments"),
])
def test_a_half_built_store_is_refused_naming_the_fix(tmp_path, empty_store, damage, expected):
    db = tmp_path / "mlflow.db"
    shutil.copy(empty_store, db)
    with sqlite3.connect(db) as con:
        con.execute(damage)
    before = db.read_bytes()
    with pytest.raises(ValueError, match="^tracking.uri=") as error:
        store_checks.check_store(f"sqlite:///{db}")
    message = str(error.value)
    assert expected in message and f"rm {db}" in message and "\n" not in message
    with pytest.raises(ValueError, match="half-built"):
        mlflow_store.setup(f"sqlite:///{db}", "artifacts", "deepdrim")
    assert db.read_bytes() == before


def test_a_store_of_another_schema_with_runs_is_not_called_half_built(tmp_path, empty_store):
    db = tmp_path / "mlflow.db"
    shutil.copy(empty_store, db)
    client = mlflow.MlflowClient(f"sqlite:///{db}")
    client.create_run(client.create_experiment("x"))
    with sqlite3.connect(db) as con:
        con.execute("UPDATE alembic_version SET version_num = '0a8600c4ebd1'")
    message = mlflow_store.half_built(db)
    assert "holding 1 runs" in message and "mlflow db upgrade" in message and "rm " not in message


def test_complete_empty_and_missing_stores_pass(tmp_path, empty_store):
    shutil.copy(empty_store, tmp_path / "mlflow.db")
    (tmp_path / "empty.db").write_bytes(b"")
    for name in ("mlflow.db", "empty.db", "missing.db"):
        assert mlflow_store.half_built(tmp_path / name) is None
        store_checks.check_store(f"sqlite:///{tmp_path / name}")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "SIGTERM"])
def test_a_signal_during_creation_leaves_no_half_built_store(tmp_path, sig):
    """A real process killed while MLflow migrates the new store's schema: nothing at the store's
    path, and the next job builds it."""
    db = tmp_path / "mlflow.db"
    status = _interrupted_creation(db, "new", sig)
    assert status == -sig  # killed during the creation, not after it
    assert not db.exists()
    mlflow_store.setup(f"sqlite:///{db}", "artifacts", "deepdrim")
    assert mlflow_store.half_built(db) is None
    assert not list(tmp_path.glob(f"mlflow.db{mlflow_store.CREATING}*"))


@pytest.mark.slow
def test_run_py_refuses_a_store_half_built_by_a_killed_plain_mlflow_creation(tmp_path, run_py):
    """The store an interrupted first open leaves (MLflow's own creation, as before this fix): the
    next job prints one line naming the fix and exits 2, and the store's bytes are unchanged."""
    db = tmp_path / "mlflow.db"
    assert _interrupted_creation(db, "old", signal.SIGKILL) == -signal.SIGKILL
    assert "half-built" in mlflow_store.half_built(db)
    before = db.read_bytes()
    done = run_py(f"tracking.uri=sqlite:///{db}", f"paths.outputs={tmp_path / 'outputs'}", timeout=300)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr[-2000:]
    assert lines[0].startswith("error: tracking.uri=") and f"rm {db}" in lines[0]
    assert db.read_bytes() == before and not (tmp_path / "outputs").exists()


def test_make_server_creates_its_sqlite_backend_atomically_and_refuses_a_half_built_one(tmp_path, empty_store,
                                                                                         capsys):
    from experiments.tracking import server

    db = tmp_path / "server.db"
    server.prepare_backend(f"sqlite:///{db}")
    assert mlflow_store.half_built(db) is None and {"runs", "alembic_version"} <= _tables(db)
    shutil.copy(empty_store, db)
    with sqlite3.connect(db) as con:
        con.execute("DROP TABLE alembic_version")
    with pytest.raises(SystemExit) as exit_:
        server.prepare_backend(f"sqlite:///{db}")
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(lines) == 1 and lines[0].startswith("error: --backend-store-uri=")
