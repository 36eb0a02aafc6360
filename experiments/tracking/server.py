"""A shared MLflow tracking server: jobs on any machine log to ``tracking.uri=http://HOST:PORT``.

``python -m experiments.tracking.server`` (``make server``) runs ``mlflow server`` with a backend
store (default: sqlite ``mlflow/server.db``; PostgreSQL for many writers, docs/scale-out.md) and
proxied artifacts (``--serve-artifacts``: clients upload through the server into
``--artifacts-destination``, so no job needs the server's filesystem). :func:`running_server`
starts one in the background (tests: a free loopback port) and stops it.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator, Optional

from experiments.config.paths import PROJECT_ROOT, project_path

DEFAULT_BACKEND = "sqlite:///mlflow/server.db"
DEFAULT_ARTIFACTS = "mlflow/server-artifacts"
#: MLflow 3.17's own app imports starlette's deprecated WSGI middleware at start-up; the warning is
#: MLflow's to fix (nothing a user can do), so the server's processes do not print it (``make ui``: same filter)
SERVER_WARNINGS = "ignore:starlette.middleware.wsgi is deprecated"


def is_server_uri(uri: str) -> bool:
    """True for a tracking server URI (``http(s)://``)."""
    return str(uri).startswith(("http://", "https://"))


def artifact_location(uri: str, local_location: Optional[str]) -> Optional[str]:
    """The ``artifact_location`` to create an experiment with: none against a server (its proxied
    ``mlflow-artifacts:/`` default, reachable from every machine), else the local one."""
    return None if is_server_uri(uri) else local_location


def _absolute_backend(uri: str) -> str:
    """A relative ``sqlite:///path`` made absolute against the project root (folder created)."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        path = PROJECT_ROOT / uri[len(prefix):]
        path.parent.mkdir(parents=True, exist_ok=True)
        return prefix + str(path)
    return uri


def _absolute_destination(destination: str) -> str:
    """A local artifact folder made absolute against the project root (URIs kept)."""
    if "://" in destination or destination.startswith("file:"):
        return destination
    return str(project_path(destination))


def server_command(backend_store_uri: str = DEFAULT_BACKEND, artifacts_destination: str = DEFAULT_ARTIFACTS,
                   host: str = "127.0.0.1", port: int = 5000, workers: int = 2) -> list[str]:
    """The ``mlflow server`` command line (relative sqlite paths and folders: under the project)."""
    if not 0 < int(port) < 65536:
        raise ValueError(f"port must be in 1..65535, got {port}")
    if int(workers) < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    launcher = [str(mlflow_cli)] if mlflow_cli.exists() else [sys.executable, "-m", "mlflow"]
    return [*launcher, "server", "--host", host, "--port", str(int(port)),
            "--backend-store-uri", _absolute_backend(backend_store_uri),
            "--artifacts-destination", _absolute_destination(artifacts_destination),
            "--serve-artifacts", "--workers", str(int(workers))]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, timeout: float = 120.0, process: Optional[subprocess.Popen] = None) -> None:
    """Block until ``url/health`` answers OK (``RuntimeError`` on timeout or when the server exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"mlflow server exited with status {process.returncode} before answering")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"mlflow server at {url} did not answer within {timeout:.0f} s")


def stop(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM to the server's process group (it and its workers), SIGKILL after ``timeout``."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout)


@contextlib.contextmanager
def running_server(root: Path, port: Optional[int] = None, host: str = "127.0.0.1", workers: int = 1,
                   backend_store_uri: Optional[str] = None, timeout: float = 120.0) -> Iterator[str]:
    """A tracking server on ``host:port`` (a free port by default) with its sqlite store and
    artifacts under ``root``; yields its URL and stops it on exit. Its log is ``root/server.log``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    port = port or free_port(host)
    command = server_command(backend_store_uri or f"sqlite:///{root.resolve() / 'server.db'}",
                             str(root.resolve() / "artifacts"), host, port, workers)
    url = f"http://{host}:{port}"
    with open(root / "server.log", "ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                   cwd=root, env={**os.environ, "PYTHONWARNINGS": SERVER_WARNINGS})
    try:
        wait_healthy(url, timeout, process)
        yield url
    finally:
        stop(process)


def prepare_backend(uri: str) -> None:
    """A new sqlite backend is created atomically before the server starts (the server would build
    its tables in place, and a kill meanwhile leaves them half-built); a half-built one is refused
    with one line naming the fix, exit 2. Other backends are left to ``mlflow server``."""
    from experiments.tracking import mlflow_store

    db = mlflow_store.sqlite_path(uri)
    if db is None:
        return
    with mlflow_store.file_lock(db.with_name(db.name + ".lock")):
        if not db.exists() or db.stat().st_size == 0:
            mlflow_store.create_store(db, "mlflow-artifacts:/")
        problem = mlflow_store.half_built(db)
    if problem is not None:
        print(f"error: --backend-store-uri={uri}: {problem}", file=sys.stderr)
        sys.exit(2)


def main(argv: Optional[list[str]] = None) -> None:
    """``make server``: run ``mlflow server`` in the foreground (Ctrl-C stops it)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="interface; 0.0.0.0 to serve other machines")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--backend-store-uri", default=DEFAULT_BACKEND,
                        help="sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DB")
    parser.add_argument("--artifacts-destination", default=DEFAULT_ARTIFACTS,
                        help="folder (or s3://, gs:// ...) the server stores artifacts in")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    command = server_command(args.backend_store_uri, args.artifacts_destination, args.host, args.port, args.workers)
    prepare_backend(command[command.index("--backend-store-uri") + 1])
    print(f"tracking server: http://{args.host}:{args.port}  (jobs: tracking.uri=http://{args.host}:{args.port})",
          flush=True)
    os.environ["PYTHONWARNINGS"] = SERVER_WARNINGS  # the server's processes inherit it
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
