"""Each command the README shows, as written, is a test (issue #20).

:data:`COVERED` names, for every command line in the README's ``bash`` blocks, the test that runs
it; :func:`test_every_readme_command_has_a_test` keeps the two in step, so a command added to the
README without a test fails here. The commands run as written, with a tiny budget given through
overrides the README also shows (tiny data, ``training.epochs``, a small ``search.n_trials``) and a
private store; ``DIR`` is a tiny BEELINE folder. ``make`` targets are run as the commands their
Makefile recipe runs (``make`` itself would first refresh ``.venv``), on a free port.

Plus: the default job's printed AUROC is the one the README states (its line
``Default job AUROC (seed 0): ...``, written by ``make results``), and it prints no warning.
"""
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import ROOT, TINY, benchmark, free_port, store_overrides

results = benchmark("default_job")

README = ROOT / "README.md"
PYTHON = ".venv/bin/python"
#: the tiny budget without the simulator's sizes (for data=beeline)
TINY_MODEL = [o for o in TINY if not o.startswith("data.")]

#: README command line (comment stripped) -> the test that runs it
COVERED = {
    "make run": "test_default_job_prints_the_readme_auroc_and_no_warning",
    "make test": "this suite",
    ".venv/bin/python run.py -m neighbors=0,2,10": "test_neighbors_sweep",
    "make ui": "test_make_ui_serves",
    ".venv/bin/python run.py -m experiment=fig4c_neighbors scale=quick": "test_quick_study",
    ".venv/bin/python run.py -m experiment=fig4c_neighbors scale=laptop": "test_laptop_study_composes_and_passes_the_checks",
    ".venv/bin/python run.py data=beeline data.path=DIR": "test_real_data_commands",
    ".venv/bin/python run.py task=predict data=beeline data.path=DIR": "test_real_data_commands",
    ".venv/bin/python run.py -m method=deepdrim,cnnc,pcc,spearman,mi,ppcor,clr,genie3,grnboost2 data=beeline "
    "data.path=DIR": "test_real_data_commands",
    ".venv/bin/python run.py task=compare": "test_real_data_commands",
    ".venv/bin/python run.py task=report": "test_real_data_commands",
    ".venv/bin/python run.py search=optuna search.n_trials=20": "test_search_on_the_default_data",
    "make dashboard": "test_make_dashboard_serves",
    'make server ARGS="--host 0.0.0.0"': "tests/test_tracking_server.py (the mlflow_server fixture starts it; "
                                         "test_make_server_execs_mlflow_server)",
    "make results": "test_make_results_writes_the_page",
    ".venv/bin/python run.py -m experiment=fig3_real data.path=DIR": "tests/test_fig3_real.py::test_fig3_real_runs_on_a_tiny_beeline_folder_and_compare_reuses_it (the preset "
                                                                      "end to end on a tiny BEELINE folder)",
}


def readme_commands() -> list:
    """Every command line of the README's ``bash`` blocks, its trailing comment stripped."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
    lines = [line.split("  #")[0].split(" #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line]


def readme_python(marker: str) -> str:
    """The README's ``python`` block containing ``marker``."""
    blocks = [b for b in re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S) if marker in b]
    assert len(blocks) == 1, f"one python block with {marker!r} expected"
    return blocks[0]


def readme_auroc() -> float:
    found = re.findall(rf"^{re.escape(results.MARKER)} (\d\.\d+)$", README.read_text(), flags=re.M)
    assert len(found) == 1, f"README.md must state one line '{results.MARKER} 0.xxx'"
    return float(found[0])


def as_argv(command: str, **replace) -> list:
    """A README ``.venv/bin/python run.py ...`` line as this interpreter's argv, tokens replaced."""
    tokens = shlex.split(command)
    assert tokens[:2] == [PYTHON, "run.py"], command
    return [sys.executable, str(ROOT / "run.py"), *(replace.get(t, t) for t in tokens[2:])]


def run(argv: list, cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, f"{' '.join(argv)}\n{done.stderr[-3000:]}"
    return done


def serves(argv: list, port: int, timeout: float = 240.0) -> str:
    """Start ``argv`` (a server), poll ``http://127.0.0.1:port/`` until it answers, stop it; the page."""
    server = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert server.poll() is None, f"{argv[0]} exited: {server.stderr.read()[-2000:]}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    return response.read().decode(errors="replace")
            except OSError:
                time.sleep(1)
        raise AssertionError(f"{' '.join(map(str, argv))} did not answer on port {port} within {timeout:.0f} s")
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)  # the server and the workers it started
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


@pytest.fixture(scope="module")
def beeline_dir(tmp_path_factory):
    """``DIR``: the tiny simulation as a BEELINE folder."""
    from sim.grn import simulate_grn

    folder = tmp_path_factory.mktemp("beeline")
    data = simulate_grn(n_tfs=6, n_genes=30, n_cells=120, n_master=2, random_state=0)
    data.expression.T.to_csv(folder / "ExpressionData.csv")
    (folder / "refNetwork.csv").write_text("Gene1,Gene2\n" + "".join(f"{a},{b}\n" for a, b in data.edge_names))
    return folder


# ------------------------------------------------------------------------------ fast
def test_every_readme_command_has_a_test():
    assert set(readme_commands()) == set(COVERED)
    names = {name for name in globals() if name.startswith("test_")}
    assert {t for t in COVERED.values() if t.startswith("test_")} <= names


def test_readme_states_the_default_job_auroc_that_make_results_wrote():
    page = (ROOT / "docs" / "results" / "default-job.md").read_text()
    assert f"{results.MARKER} {readme_auroc():.3f}" in page.splitlines()


def test_laptop_study_composes_and_passes_the_checks():
    """The hour-long study is composed and checked as ``run.py`` does before Hydra starts (not run)."""
    from experiments.config import cli

    command = next(c for c in COVERED if c.endswith("scale=laptop"))
    jobs = cli.validate(as_argv(command)[2:])
    assert len(jobs) > 1 and {job.study for job in jobs} == {"fig4c_neighbors"}


# ------------------------------------------------------------------------------ slow: the commands
@pytest.mark.slow
def test_default_job_prints_the_readme_auroc_and_no_warning(tmp_path):
    """``make run`` = ``python run.py``: the AUROC it prints is the README's, on a machine that
    computes in the precision ``make results`` measured with; no line on stderr is a warning."""
    page = (ROOT / "docs" / "results" / "default-job.md").read_text()
    measured_in = re.search(r"computes in (\S+) here", page).group(1)
    done = run([sys.executable, str(ROOT / "run.py"), *store_overrides(tmp_path)], tmp_path)
    warnings = [line for line in done.stderr.splitlines() if "warn" in line.lower()]
    assert not warnings, warnings
    printed = re.findall(r"^DeepDRIM neighbors=10 \[split=tf\]: auroc=(\d\.\d+) ", done.stdout, flags=re.M)
    assert len(printed) == 1, done.stdout[-2000:]
    if results.precision() != measured_in:
        pytest.skip(f"this machine computes in {results.precision()}, the README's number in {measured_in}")
    assert float(printed[0]) == readme_auroc()


@pytest.mark.slow
def test_neighbors_sweep(tmp_path):
    command = next(c for c in COVERED if "neighbors=0,2,10" in c)
    run([*as_argv(command), *TINY, *store_overrides(tmp_path)], tmp_path)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("deepdrim").experiment_id])
    jobs = [r for r in runs if r.data.tags.get("kind") != "multirun"]
    assert sorted(int(r.data.params["neighbors"]) for r in jobs) == [0, 2, 10]
    assert all(r.info.status == "FINISHED" for r in runs) and len(runs) == 4


@pytest.mark.slow
def test_quick_study(tmp_path):
    command = next(c for c in COVERED if c.endswith("scale=quick"))
    run([*as_argv(command), "neighbors=0,1", "seed=0", *TINY, *store_overrides(tmp_path)], tmp_path)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("fig4c_neighbors").experiment_id])
    parent = [r for r in runs if r.data.tags.get("kind") == "multirun"]
    assert len(runs) == 3 and all(r.info.status == "FINISHED" for r in runs) and parent[0].data.tags["verdict"]


@pytest.mark.slow
def test_real_data_commands(tmp_path, beeline_dir):
    """cv, predict, the method sweep, compare and the report on one BEELINE folder and one store."""
    commands = [c for c in COVERED if COVERED[c] == "test_real_data_commands"]
    for command in commands:
        tiny = TINY_MODEL if "data=beeline" in command else []
        run([*as_argv(command, **{"data.path=DIR": f"data.path={beeline_dir}"}), *tiny, *store_overrides(tmp_path)],
            tmp_path)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("deepdrim").experiment_id])
    tasks = [r.data.tags.get("task") for r in runs if r.data.tags.get("kind") != "multirun"]
    # the sweep's deepdrim job is the first command's configuration: resumed, not re-run
    assert tasks.count("cv") == 9 and tasks.count("predict") == 1 and tasks.count("compare") == 1
    assert all(r.info.status == "FINISHED" for r in runs)
    assert list(tmp_path.joinpath("outputs").rglob("report.html")) or list(tmp_path.rglob("*.html"))


@pytest.mark.slow
def test_search_on_the_default_data(tmp_path):
    """The search runs on the default data (24 TFs: folds of 15-16 training TFs validate on 4);
    a tiny network and 2 epochs instead of the space's epochs keep it short."""
    command = next(c for c in COVERED if "search=optuna" in c)
    budget = ["search.n_trials=2", "~search.space.epochs", "~search.space.min_epochs", "~search.space.neighbors",
              "~search.space.dense_width", "neighbors=2", "training.epochs=2", "training.min_epochs=0",
              "model.conv_filters=[4,4,4]", "model.embedding=8", "model.dense_units=[8,4]"]
    done = run([*as_argv(command, **{"search.n_trials=20": budget[0]}), *budget[1:], *store_overrides(tmp_path)],
               tmp_path)
    assert "no validation split" not in done.stderr
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("search").experiment_id])
    trials = [r for r in runs if r.data.tags.get("kind") == "search-trial"]
    assert len(trials) == 2 and all(r.data.tags["state"] == "COMPLETE" for r in trials)
    assert all(0 <= r.data.metrics["objective"] <= 1 for r in trials)


@pytest.mark.slow
def test_make_results_writes_the_page(tmp_path):
    out = tmp_path / "default-job.md"
    run([sys.executable, str(ROOT / "benchmarks" / "default_job.py"), "--seeds", "0", "--out", str(out), "--", *TINY], ROOT)
    page = out.read_text()
    assert re.search(rf"^{re.escape(results.MARKER)} \d\.\d{{3}}$", page, flags=re.M)
    assert "| 0 | **" in page and "load average" in page and f"{os.cpu_count()} cores" in page


@pytest.mark.slow
def test_make_ui_serves(tmp_path, empty_store):
    """``make ui``'s recipe: print the runs-table links, then ``mlflow ui`` (here on a free port)."""
    import shutil

    shutil.copy(empty_store, tmp_path / "mlflow.db")
    uri, port = f"sqlite:///{tmp_path / 'mlflow.db'}", free_port()
    links = run([sys.executable, "-m", "experiments.tracking.mlflow_ui", uri, f"http://127.0.0.1:{port}"], ROOT)
    assert f"http://127.0.0.1:{port}/#/experiments/" in links.stdout
    page = serves([str(Path(sys.executable).parent / "mlflow"), "ui", "--backend-store-uri", uri, "--port", str(port)],
                  port)
    assert "mlflow" in page.lower()


@pytest.mark.slow
def test_make_dashboard_serves(tmp_path):
    """``make dashboard``'s recipe on a new storage, on a free port: create the storage when missing
    (optuna-dashboard alone crashes on a new sqlite file), then optuna-dashboard."""
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    run([sys.executable, "-c", "import sys; from experiments.tracking.optuna_storage import optuna_storage; "
         "optuna_storage(sys.argv[1])", storage], ROOT)
    port = free_port()
    page = serves([str(Path(sys.executable).parent / "optuna-dashboard"), "--host", "127.0.0.1", "--port", str(port),
                   storage], port)
    assert "optuna" in page.lower()


@pytest.mark.slow
def test_library_example_runs(tmp_path):
    """The README's library example, with 2 epochs instead of 16."""
    code = readme_python("DeepDRIM(").replace("epochs=16, min_epochs=10", "epochs=2, min_epochs=0")
    done = run([sys.executable, "-c", code], tmp_path)
    assert re.search(r"^held-out AUROC \d\.\d{3}$", done.stdout, flags=re.M)
