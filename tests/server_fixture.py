"""pytest fixture ``mlflow_server``: an MLflow tracking server on a free 127.0.0.1 port, sqlite
store and proxied artifacts in a temporary folder, stopped after the module. Use it with
``from tests.server_fixture import mlflow_server  # noqa: F401`` (not in tests/conftest.py)."""
import pytest


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """URL (``http://127.0.0.1:PORT``) of a running tracking server."""
    from experiments.tracking.server import running_server

    with running_server(tmp_path_factory.mktemp("mlflow-server")) as url:
        yield url
