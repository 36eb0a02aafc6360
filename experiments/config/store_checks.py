"""Where jobs write, checked before anything is: a writable folder, the MLflow tracking store and
the Optuna storage of a search. Each check raises a one-line ``ValueError`` naming the knob; none
writes, and none imports MLflow or Optuna unless the store exists."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from experiments.config.paths import project_path

URI_SCHEMES = ("sqlite", "http", "https", "file", "postgresql", "mysql", "mssql", "databricks")
#: a journal file of Optuna's JournalStorage (experiments.tracking.optuna_storage reads it here: this module
#: must not import Optuna)
JOURNAL_SUFFIXES = (".log", ".journal")


def _probe(folder: Path) -> Optional[str]:
    """None when a file can be created in the existing ``folder``, else why not: a real probe
    (``os.access`` says yes to root on a read-only mount); the probe file is gone at once."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder):
            return None
    except OSError as error:
        return error.strerror or type(error).__name__


def writable_folder(name: str, path, value=None) -> Path:
    """``path`` (a folder a job writes into) exists and is writable, or can be created: its nearest
    existing ancestor is a writable folder. ``ValueError`` naming ``name=value`` otherwise."""
    path = Path(str(path)).expanduser()
    path = path if path.is_absolute() else Path.cwd() / path
    shown = f"{name}={value if value is not None else path}"
    if path.exists() and not path.is_dir():
        raise ValueError(f"{shown}: {path} is a file, not a folder")
    _creatable(shown, path, path)
    return path


def _creatable(shown: str, start: Path, target: Path) -> None:
    """``target`` can be created: the nearest existing ancestor of ``start`` is a writable folder."""
    folder = start
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise ValueError(f"{shown}: {folder} is a file, so {target} cannot be created under it")
    why = _probe(folder)
    if why is not None:
        raise ValueError(f"{shown}: {folder} is not writable ({why})" + ("" if folder == target else
                                                                        f", so {target} cannot be created"))


def sqlite_file(name: str, value: str, path: Path) -> None:
    """A sqlite database a job opens (and may create): an existing file is an SQLite database that
    is writable; a new one's folder exists or can be created and is writable."""
    if path is None or str(path) in ("", "/"):
        raise ValueError(f"{name}={value}: not a sqlite:///PATH URL")
    if path.is_dir():
        raise ValueError(f"{name}={value}: {path} is a folder, not a database file")
    if path.exists():
        try:
            with open(path, "rb") as handle:
                header = handle.read(16)
        except OSError as error:
            raise ValueError(f"{name}={value}: cannot read {path} ({error.strerror})") from None
        if header and header != b"SQLite format 3\x00":
            raise ValueError(f"{name}={value}: {path} is not an SQLite database")
        if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
            raise ValueError(f"{name}={value}: {path} is not writable")
        return
    _creatable(f"{name}={value}", path.parent, path)


#: the pip package of a database driver module SQLAlchemy imports
DRIVER_PACKAGES = {"psycopg": "'psycopg[binary]'", "psycopg2": "psycopg2-binary", "MySQLdb": "mysqlclient",
                   "pymysql": "PyMySQL", "pyodbc": "pyodbc", "oracledb": "oracledb"}


def database_driver(name: str, url: str) -> None:
    """A database URL SQLAlchemy knows, whose driver (DBAPI module) is installed: checked by
    importing it, so a missing one is a line now, not an ``ImportError`` traceback mid-job."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except Exception as error:  # noqa: BLE001 - ArgumentError, NoSuchModuleError: an unknown dialect
        raise ValueError(f"{name}={url}: not a database URL SQLAlchemy knows "
                         f"({str(error).splitlines()[0] if str(error) else type(error).__name__})") from None
    try:
        dialect.import_dbapi()
    except ImportError as error:
        package = DRIVER_PACKAGES.get(error.name or "", error.name or "its driver")
        raise ValueError(f"{name}={url}: the {parsed.drivername} driver is not installed "
                         f"(no module {error.name or str(error)!r}); pip install {package}, "
                         f"or use a sqlite:/// URL or a journal .log file") from None


def reachable(name: str, url: str, timeout: float = 3.0) -> None:
    """An http(s) server accepts a connection at the URL's host and port within ``timeout``
    seconds (MLflow's client would otherwise retry for minutes)."""
    import socket
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise ValueError(f"{name}={url}: not a URL ({error})") from None
    if not host:
        raise ValueError(f"{name}={url}: no host in the URL")
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as error:
        why = "timed out" if isinstance(error, socket.timeout) else (error.strerror or type(error).__name__)
        raise ValueError(f"{name}={url}: no server answers at {host}:{port} within {timeout:g} s ({why}); "
                         f"start it (make server) or use a sqlite:/// store") from None


def check_store(uri) -> None:
    """The tracking store is usable, checked without writing to it: a known scheme; a sqlite file
    that exists is an SQLite database; a new one's folder exists or can be created and is writable;
    a server answers; a database's driver is installed; MLflow's file store is refused (MLflow 3
    raises on it unless ``MLFLOW_ALLOW_FILE_STORE``). ``ValueError`` naming the URI and what is wrong."""
    if not isinstance(uri, str) or not uri.strip():
        raise ValueError(f"tracking.uri must be a non-empty string, got {uri!r}")
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower() if ":" in uri else ""
    if scheme not in URI_SCHEMES or "://" not in uri and scheme != "file":
        raise ValueError(f"tracking.uri={uri}: unknown scheme {scheme or '(none)'!r}; "
                         f"use one of {', '.join(s + '://' for s in URI_SCHEMES)}")
    if scheme in ("http", "https"):
        reachable("tracking.uri", uri)
    elif scheme == "file":
        if os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").lower() not in ("true", "1"):
            raise ValueError(f"tracking.uri={uri}: MLflow's file store is in maintenance mode and refused by "
                             f"MLflow 3; use sqlite:///PATH/mlflow.db (or set MLFLOW_ALLOW_FILE_STORE=true)")
        from urllib.parse import unquote, urlsplit

        writable_folder("tracking.uri", unquote(urlsplit(uri).path) or ".", uri)
    elif scheme in ("postgresql", "mysql", "mssql"):
        database_driver("tracking.uri", uri)
    elif scheme == "sqlite":
        if not uri.startswith("sqlite:///"):
            raise ValueError(f"tracking.uri={uri}: not a sqlite:///PATH URI")
        path = project_path(uri[len("sqlite:///"):])
        sqlite_file("tracking.uri", uri, path)
        if path.is_file():
            from experiments.tracking.mlflow_store import half_built

            problem = half_built(path)  # an interrupted creation (before stores were created atomically)
            if problem is not None:
                raise ValueError(f"tracking.uri={uri}: {problem}")


def check_search_storage(storage) -> None:
    """``search.storage`` (null: ``optuna.db`` beside the MLflow store, checked with it): a journal
    ``.log``/``.journal`` file whose folder is writable or can be created, a sqlite URL as the
    tracking store's, or a database URL whose driver is installed."""
    if storage is None:
        return
    text = str(storage).strip()
    if not text:
        raise ValueError("search.storage must be a database URL or a journal .log path, got an empty string")
    if "://" not in text:
        if not text.endswith(JOURNAL_SUFFIXES):
            raise ValueError(f"search.storage={text}: not a database URL (sqlite:///..., postgresql://...) "
                             f"nor a journal file ({' or '.join(JOURNAL_SUFFIXES)})")
        path = project_path(text)
        if path.is_dir():
            raise ValueError(f"search.storage={text}: {path} is a folder, not a journal file")
        if path.exists():
            if not os.access(path, os.W_OK):
                raise ValueError(f"search.storage={text}: {path} is not writable")
            return
        writable_folder("search.storage", path.parent, text)
        return
    if text.startswith("sqlite:"):
        if not text.startswith("sqlite:///"):
            raise ValueError(f"search.storage={text}: not a sqlite:///PATH URL")
        sqlite_file("search.storage", text, project_path(text[len("sqlite:///"):]))
        return
    database_driver("search.storage", text)
