"""Every bad input answered before anything is written: one line, exit status 2 (CLI) or one
``ValueError`` line naming the argument (library), and no new folder, MLflow run or store byte.

The CLI cases go through :func:`experiments.config.cli.validate_or_exit`, the function ``run.py`` calls
before Hydra starts (no TensorFlow, no training); a few real ``python run.py`` subprocesses
(``slow``) show the same end to end, Hydra's output folder included."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from experiments.config import checks, cli
from tests.conftest import free_port, store_overrides

ROOT = Path(__file__).resolve().parents[1]


def _snapshot(folder: Path) -> dict:
    """Every path under ``folder`` with its bytes (files) or None (folders)."""
    return {p.relative_to(folder): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


def _keras_zip(path: Path, channels: int, n_bins: int = 32) -> None:
    """A ``model.keras``-shaped zip: its ``config.json`` declares the ``images`` input shape."""
    import json
    import zipfile

    config = {"class_name": "Functional", "config": {"layers": [{"class_name": "InputLayer", "name": "images",
              "config": {"batch_shape": [None, channels, n_bins, n_bins], "name": "images"}}]}}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))


def _beeline_folders(root: Path) -> None:
    """A good tiny BEELINE folder and malformed variants of it (one defect each)."""
    from experiments.config.data import export_simulation

    good = export_simulation(root / "good", dict(kind="sim", n_tfs=4, n_genes=20, n_cells=30, n_master=2), seed=0)
    expression = (good / "ExpressionData.csv").read_text()
    network = (good / "refNetwork.csv").read_text()
    lines = expression.splitlines(keepends=True)
    variants = {
        "header_only": (lines[0], network),
        "duplicate_genes": (lines[0] + lines[1] + lines[1] + "".join(lines[2:]), network),
        "foreign_network": (expression, "Gene1,Gene2,Type\nX1,X2,+\nX3,X4,+\n"),
        "semicolons": (expression.replace(",", ";"), network.replace(",", ";")),
        "all_zero": ("".join([lines[0], *(line.split(",")[0] + ",0" * (line.count(",")) + "\n" for line in lines[1:])]),
                     network),
    }
    for name, (expr, net) in variants.items():
        (root / name).mkdir()
        (root / name / "ExpressionData.csv").write_text(expr)
        (root / name / "refNetwork.csv").write_text(net)
    (root / "truncated.h5ad").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(200))


@pytest.fixture()
def sandbox(tmp_path, empty_store, monkeypatch):
    """A folder with an existing store, odd files for bad URIs, malformed BEELINE folders, saved-model
    folders, and the CLI's output paths in it."""
    shutil.copy(empty_store, tmp_path / "mlflow.db")
    (tmp_path / "file.txt").write_text("a file, not a folder\n")
    (tmp_path / "garbage.db").write_bytes(np.random.default_rng(0).bytes(4096))
    (tmp_path / "folder.db").mkdir()
    _beeline_folders(tmp_path)
    for name, channels in (("model_n1", 5), ("model_disagrees", 13)):  # deepdrim.json says n_neighbors=1 (5 images)
        (tmp_path / name).mkdir()
        (tmp_path / name / "deepdrim.json").write_text('{"params": {"n_neighbors": 1, "n_bins": 32}, "n_genes": 20}')
        _keras_zip(tmp_path / name / "model.keras", channels)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _argv(root: Path, overrides: list) -> list:
    """``-m`` first, then the sandbox's store and output paths unless the case sets them, then the case."""
    cases = [o.replace("{root}", str(root)).replace("{port}", str(free_port())) for o in overrides]
    given = {o.split("=", 1)[0].lstrip("+~") for o in cases}
    base = [o for o in store_overrides(root) if o.split("=", 1)[0] not in given]
    flags = [o for o in cases if o == "-m"]
    return [*flags, *base, *(o for o in cases if o != "-m")]


# (overrides, what the one line must contain); {root} is the sandbox
CLI_CASES = [
    (["model.neighbor_values=bogus"], "model.neighbor_values must be one of"),
    (["training.batch_order=bogus"], "training.batch_order must be one of"),
    (["training.precision=float16"], "training.precision must be one of"),
    (["data.dropout=bogus"], "data.dropout must be one of"),
    (["data.in_degree=bogus"], "data.in_degree must be one of"),
    (["seed=abc"], "seed must be an integer"),
    (["seed=-1"], "seed must be an integer"),
    (["seed=1.5"], "seed must be an integer"),
    (["seed=true"], "seed must be an integer"),
    (["neighbors=-1"], "neighbors must be an integer"),
    (["neighbors=abc"], "neighbors must be an integer"),
    (["neighbors=1.5"], "neighbors must be an integer"),
    (["neighbors=300"], "neighbors=300 needs at least 302 genes"),
    (["force=maybe"], "force must be true or false"),
    (["method=bogus"], "method/bogus"),
    (["task=bogus"], "task must be one of"),
    (["cells=1"], "cells must be an integer"),
    (["cells=abc"], "cells must be an integer"),
    (["cells=5000"], "cells=5000 is larger than the data"),
    (["drop_prob=1.5"], "drop_prob must be a number in [0, 1]"),
    (["drop_prob=-0.1"], "drop_prob must be a number in [0, 1]"),
    (["drop_cutoff=2"], "drop_cutoff must be a number in [0, 1]"),
    (["train_fraction=0"], "train_fraction must be a number in (0, 1]"),
    (["train_fraction=1.5"], "train_fraction must be a number in (0, 1]"),
    (["model.n_bins=0"], "model.n_bins must be an integer in [2, 255]"),
    (["model.n_bins=1.7"], "model.n_bins must be an integer in [2, 255]"),
    (["model.neighbor_score=bogus"], "model.neighbor_score must be one of covariance, correlation"),
    (["model.transform=sqrt"], "model.transform must be one of log, none"),
    (["model.conv_filters=[]"], "model.conv_filters must be a non-empty sequence"),
    (["model.conv_filters=[0,4]"], "model.conv_filters must be a non-empty sequence"),
    (["model.embedding=0"], "model.embedding must be an integer >= 1"),
    (["model.conv_dropout=1"], "model.conv_dropout must be a number in [0, 1)"),
    (["model.dense_units=abc"], "model.dense_units must be a non-empty sequence"),
    (["model.dense_dropout=-0.5"], "model.dense_dropout must be a number in [0, 1)"),
    (["training.epochs=0"], "training.epochs must be an integer >= 1"),
    (["training.epochs=abc"], "training.epochs must be an integer >= 1"),
    (["training.min_epochs=-1"], "training.min_epochs must be an integer >= 0"),
    (["training.min_epochs=100"], "training.min_epochs=100 must be <= training.epochs=16"),
    (["training.batch_size=0"], "training.batch_size must be an integer >= 1"),
    (["training.optimizer=rmsprop"], "training.optimizer must be one of sgd, adam"),
    (["training.learning_rate=abc"], "training.learning_rate must be a number in (0, 1]"),
    (["training.learning_rate=0"], "training.learning_rate must be a number in (0, 1]"),
    (["training.learning_rate=-1"], "training.learning_rate must be a number in (0, 1]"),
    (["training.learning_rate=nan"], "training.learning_rate must be a number in (0, 1]"),
    (["training.patience=abc"], "training.patience must be an integer >= 0"),
    (["training.patience=-1"], "training.patience must be an integer >= 0"),
    (["training.momentum=2"], "training.momentum must be a number in [0, 1]"),
    (["training.nesterov=maybe"], "training.nesterov must be true or false"),
    (["training.lr_decay=-1"], "training.lr_decay must be a number >= 0"),
    (["training.validation_fraction=1"], "training.validation_fraction must be a number in [0, 1)"),
    (["training.monitor=acc"], "training.monitor must be one of"),
    (["training.verbose=5"], "training.verbose must be an integer in [0, 2]"),
    (["cv.n_folds=1"], "cv.n_folds must be an integer >= 2"),
    (["cv.n_folds=abc"], "cv.n_folds must be an integer >= 2"),
    (["cv.n_folds=30"], "cv.n_folds=30 TF-aware folds need at least 30 TFs"),
    (["data.n_genes=2"], "data.n_genes must be an integer >= 3"),
    (["data.n_cells=1"], "data.n_cells must be an integer >= 2"),
    (["data.n_tfs=1"], "data.n_tfs must be an integer >= 2"),
    (["data.n_tfs=300"], "data.n_tfs=300 must be < data.n_genes=250"),
    (["data.noise_sd=-1"], "data.noise_sd must be a number >= 0"),
    (["data.negatives=some"], "data.negatives must be one of balanced, all"),
    (["data=nosuch"], "data/nosuch"),
    (["tracking.uri=bogus://x"], "tracking.uri=bogus://x: unknown scheme 'bogus'"),
    (["tracking.uri=/no/scheme.db"], "unknown scheme"),
    (["tracking.uri="], "tracking.uri must be a non-empty string"),
    (["tracking.uri=sqlite:///{root}/file.txt/mlflow.db"], "file.txt is a file, so"),
    (["tracking.uri=sqlite:///{root}/garbage.db"], "garbage.db is not an SQLite database"),
    (["tracking.uri=sqlite:///{root}/file.txt"], "file.txt is not an SQLite database"),
    (["tracking.uri=sqlite:///{root}/folder.db"], "folder.db is a folder, not a database file"),
    (["tracking.uri=sqlite:////proc/self/new/mlflow.db"], "is not writable"),
    (["tracking.experiment="], "tracking.experiment must be a non-empty string"),
    (["nosuch=1"], "unknown config key 'nosuch'"),
    (["training.foo=1"], "unknown config key 'training.foo'"),
    (["neighbors=1,2"], "neighbors has several values (1, 2): add -m to sweep them"),
    (["neighbors=[1"], "neighbors=[1"),
    (["experiment=fig1_ggm", "neighbors=9"], "neighbors=9 needs at least 11 genes; the data has 4"),
    (["data=beeline", "data.path={root}/missing_folder"], "BEELINE folder not found: "),
    (["data=beeline"], "data=beeline needs data.path=..."),
    (["data=h5ad", "data.path={root}/file.txt", "data.network={root}/none.csv"], "data.network file not found"),
    (["data=h5ad", "data.path={root}/none.h5ad", "data.network={root}/file.txt"], "data.path file not found"),
    (["task=predict", "model_path={root}/folder.db"], "folder.db is not a saved DeepDRIM model"),
    (["-m", "cv.n_folds=1,2"], "cv.n_folds must be an integer >= 2, got 1"),
    (["-m", "neighbors=-1,2"], "neighbors must be an integer >= 0, got -1"),
    (["-m", "neighbors=2,-1"], "neighbors must be an integer >= 0, got -1"),
    (["-m", "training.learning_rate=0.1,abc"], "training.learning_rate must be a number in (0, 1], got 'abc'"),
    (["-m", "model.n_bins=32,0"], "model.n_bins must be an integer in [2, 255], got 0"),
    (["-m", "experiment=fig4b_dropout", "drop_prob=0.1,1.5"], "drop_prob must be a number in [0, 1], got 1.5"),
    (["-m", "neighbors=0,2", "method=deepdrim,nosuch"], "method/nosuch"),
    (["-m", "seed=range(-2,1)"], "seed must be an integer"),
    # every job of a sweep, a preset's too; the preset's hydra.mode: MULTIRUN sweeps without -m
    (["-m", "experiment=fig4a_cells", "cells=5000"], "cells=5000 is larger than the data (4000 cells)"),
    (["-m", "experiment=fig4d_train_fraction", "train_fraction=0,0.5"], "train_fraction must be a number in (0, 1], got 0"),
    (["-m", "experiment=fig1_ggm", "ggm.n_genes=2"], "at least 3 genes"),
    (["-m", "experiment=fig4c_neighbors", "scale=quick", "neighbors=0,100"], "neighbors=100 needs at least 102 genes"),
    (["-m", "method=deepdrim,cnnc,pcc", "neighbors=2"], "method=cnnc is DeepDRIM with neighbors=0"),
    (["experiment=fig4c_neighbors", "method=cnnc"], "method=cnnc is DeepDRIM with neighbors=0 (primary image only), got neighbors=1"),
    # issue #20: inputs that ended in a traceback
    (["search=optuna", "search.storage=bogus://x"], "search.storage=bogus://x: not a database URL"),
    (["search=optuna", "search.storage=postgresql+psycopg2://u:p@localhost/db"], "driver is not installed"),
    (["search=optuna", "search.storage=/proc/self/new/study.log"], "search.storage=/proc/self/new/study.log: "),
    (["search=optuna", "search.storage={root}/file.txt/study.log"], "file.txt is a file"),
    (["search=optuna", "search.storage=study.txt"], "nor a journal file"),
    (["search=optuna", "search.storage=sqlite:///{root}/garbage.db"], "garbage.db is not an SQLite database"),
    (["paths.outputs=/proc/self/new"], "hydra.run.dir=/proc/self/new/"),
    (["hydra.run.dir=/proc/self/new/job"], "hydra.run.dir=/proc/self/new/job: /proc/self is not writable"),
    (["hydra.run.dir={root}/file.txt/job"], "file.txt is a file, so"),
    (["-m", "paths.multirun=/proc/self/new", "neighbors=0,1"], "hydra.sweep.dir=/proc/self/new/"),
    (["tracking.uri=file://{root}/filestore"], "MLflow's file store is in maintenance mode"),
    (["tracking.uri=http://127.0.0.1:{port}"], "no server answers at 127.0.0.1:"),
    (["tracking.uri=postgresql+psycopg2://u:p@localhost/db"], "driver is not installed"),
    (["-m", "neighbors=interval(0,5)"], "interval() is a search space, not a list of values"),
    (["-m", "neighbors=glob(*)"], "glob() picks options of a config group"),
    (["-m", "method=glob(nosuch*)"], "matches no option of method"),
    (["data.n_cells=1000000000"], "data.n_cells=1000000000 x data.n_genes=250"),
    (["data.n_cells=10**9"], "data.n_cells must be an integer"),
    (["task=predict", "model_path={root}/model_disagrees"], "the two files disagree: deepdrim.json says n_neighbors=1"),
    (["task=predict", "model_path={root}/model_n1", "neighbors=5"], "was trained with neighbors=1"),
    # issue #20: inputs that were silently accepted
    (["+typo=1"], "unknown config key 'typo': +typo=1 adds a key nothing reads"),
    (["++training.typo=1"], "unknown config key 'training.typo'"),
    (["-m", "neighbors=0,1", "neighbors=2"], "neighbors is given twice (neighbors=0,1 and neighbors=2)"),
    (["-m", "neighbors=2", "neighbors=0,1"], "neighbors is given twice (neighbors=2 and neighbors=0,1)"),
    (["training.learning_rate=1e30"], "training.learning_rate must be a number in (0, 1], got 1e+30"),
    (["data=beeline", "data.path={root}/all_zero"], "no gene varies across cells"),
    # issue #20: malformed data, found before Hydra creates a folder or MLflow is imported
    (["data=beeline", "data.path={root}/header_only"], "ExpressionData.csv"),
    (["data=beeline", "data.path={root}/duplicate_genes"], "duplicate gene name"),
    (["data=beeline", "data.path={root}/foreign_network"], "none of its 2 edge(s) remain"),
    (["data=beeline", "data.path={root}/semicolons"], "ExpressionData.csv"),
    (["data=h5ad", "data.path={root}/truncated.h5ad", "data.network={root}/good/refNetwork.csv"],
     "truncated.h5ad: not a readable .h5ad file"),
    (["task=predict", "data=beeline", "data.path={root}/all_zero"], "no gene varies"),
]


@pytest.mark.parametrize("overrides, expected", CLI_CASES, ids=[" ".join(c[0]) for c in CLI_CASES])
def test_cli_bad_input_is_one_line_exit_2_and_writes_nothing(sandbox, capsys, overrides, expected):
    before = _snapshot(sandbox)
    with pytest.raises(SystemExit) as stop:
        cli.validate_or_exit(_argv(sandbox, overrides))
    assert stop.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert expected in lines[0], lines[0]
    assert _snapshot(sandbox) == before  # no folder, no run, the store's bytes unchanged


def test_good_input_passes_and_a_sweep_checks_every_value(sandbox):
    assert len(cli.validate([*store_overrides(sandbox), "neighbors=2"])) == 1
    jobs = cli.validate(["-m", *store_overrides(sandbox), "neighbors=0,1,2", "seed=0,1"])
    assert sorted({(j.neighbors, j.seed) for j in jobs}) == [(0, 0), (0, 1), (1, 0), (2, 0)]  # each value once
    preset = cli.validate(["-m", *store_overrides(sandbox), "experiment=fig4b_dropout", "scale=quick"])
    assert {j.drop_prob for j in preset} == {0.3, 0.5} and len({j.drop_cutoff for j in preset}) == 10  # the preset sweep
    assert cli.validate(["--help"]) is None and cli.validate(["--cfg", "job", "neighbors=300"]) is None  # no job run
    assert cli.validate([*store_overrides(sandbox), "neighbors=1", "neighbors=2"])[0].neighbors == 2  # Hydra's last-wins
    globbed = cli.validate(_argv(sandbox, ["-m", "method=glob(*,exclude=[g*,deepdrim,cnnc,target_only])"]))
    assert {j.method for j in globbed} == {"pcc", "spearman", "mi", "ppcor", "clr"}  # a glob of a group is listed
    assert cli.validate(_argv(sandbox, ["search=optuna", "search.storage={root}/new/study.log",
                                        "+search.space.momentum={path: training.momentum, type: float, low: 0, high: 0.9}"]))
    assert cli.validate(_argv(sandbox, ["data=beeline", "data.path={root}/good"]))  # its content read and fine
    assert cli.validate(_argv(sandbox, ["task=predict", "model_path={root}/model_n1", "neighbors=1"]))


def test_hydra_flags_that_run_jobs_are_validated_too(sandbox):
    for flags in (["-r"], ["-cn", "config", "-m"], ["-cp", "conf"], ["-cd", str(sandbox)]):
        with pytest.raises(ValueError, match="neighbors=300 needs at least 302 genes"):
            cli.validate([*flags, *store_overrides(sandbox), "neighbors=0,300" if "-m" in flags else "neighbors=300"])
    with pytest.raises(ValueError, match="Cannot find primary config 'nosuch'"):
        cli.validate(["-cn", "nosuch", *store_overrides(sandbox)])


def _choice_tuples(root) -> dict:
    """(strings of a module-level tuple constant) -> where each is assigned, over the project's code."""
    import ast

    found: dict = {}
    for folder in ("deepdrim", "sim", "experiments"):
        for path in sorted((Path(root) / folder).rglob("*.py")):
            for node in ast.parse(path.read_text()).body:
                values = getattr(getattr(node, "value", None), "elts", None) if isinstance(node, ast.Assign) else None
                if values and len(values) >= 2 and all(isinstance(v, ast.Constant) and isinstance(v.value, str)
                                                       for v in values):
                    found.setdefault(tuple(v.value for v in values), []).append(f"{path.name}:{node.lineno}")
    return found


def test_each_choice_is_defined_once():
    """run.py's validation pass reads the library's choices instead of mirroring them: a choice tuple
    written twice would drift (model.n_bins once had two ranges)."""
    from deepdrim import choices

    root = Path(checks.__file__).resolve().parents[2]
    found = _choice_tuples(root)
    twice = {values: where for values, where in found.items() if len(where) > 1}
    assert not twice, f"choices defined more than once: {twice}"
    assert ("tf", "strict") in found  # the scan sees the library's constants
    assert checks.SPLITS is choices.SPLITS
    with pytest.raises(ValueError, match=r"model.n_bins must be an integer in \[2, 255\], got 256"):
        checks.SCHEMA["model.n_bins"]("model.n_bins", 256)


# ------------------------------------------------------------------------------------------ library
def _expression():
    return np.random.default_rng(0).poisson(3.0, size=(40, 8)).astype(float)


PAIRS = np.array([[0, 1], [0, 2], [1, 3], [1, 4]])
LABELS = np.array([1, 0, 1, 0])


def _fit(**params):
    from deepdrim import DeepDRIM

    return lambda: DeepDRIM(**params).fit(_expression(), PAIRS, LABELS)


def _images(**kwargs):
    from deepdrim.images import pair_images

    return lambda: pair_images(_expression(), PAIRS, **{"n_neighbors": 1, **kwargs})


LIBRARY_CASES = [
    ("patience='x'", _fit(patience="x"), "patience must be an integer >= 0"),
    ("patience=-1", _fit(patience=-1), "patience must be an integer >= 0"),
    ("epochs=0", _fit(epochs=0), "epochs must be an integer >= 1"),
    ("epochs=2.5", _fit(epochs=2.5), "epochs must be an integer >= 1"),
    ("batch_size='32'", _fit(batch_size="32"), "batch_size must be an integer >= 1"),
    ("min_epochs=-2", _fit(min_epochs=-2), "min_epochs must be an integer >= 0"),
    ("learning_rate='abc'", _fit(learning_rate="abc"), "learning_rate must be a number in (0, 1]"),
    ("learning_rate=0", _fit(learning_rate=0), "learning_rate must be a number in (0, 1]"),
    ("momentum=1.5", _fit(momentum=1.5), "momentum must be a number in [0, 1]"),
    ("lr_decay=-1", _fit(lr_decay=-1), "lr_decay must be a number >= 0"),
    ("nesterov='yes'", _fit(nesterov="yes"), "nesterov must be true or false"),
    ("validation_fraction=1", _fit(validation_fraction=1), "validation_fraction must be a number in [0, 1)"),
    ("n_bins=1.7", _fit(n_bins=1.7), "n_bins must be an integer in [2, 255]"),
    ("n_neighbors=-1", _fit(n_neighbors=-1), "n_neighbors must be an integer >= 0"),
    ("embedding=0", _fit(embedding=0), "embedding must be an integer >= 1"),
    ("conv_filters=()", _fit(conv_filters=()), "conv_filters must be a non-empty sequence"),
    ("dense_units=(8, 0)", _fit(dense_units=(8, 0)), "dense_units must be a non-empty sequence"),
    ("conv_dropout=1", _fit(conv_dropout=1), "conv_dropout must be a number in [0, 1)"),
    ("dense_dropout=-0.1", _fit(dense_dropout=-0.1), "dense_dropout must be a number in [0, 1)"),
    ("optimizer='rmsprop'", _fit(optimizer="rmsprop"), "optimizer must be one of sgd, adam"),
    ("monitor='acc'", _fit(monitor="acc"), "monitor must be one of"),
    ("neighbor_score='mi'", _fit(neighbor_score="mi"), "neighbor_score must be one of covariance, correlation"),
    ("transform='sqrt'", _fit(transform="sqrt"), "transform must be one of log, none"),
    ("random_state=-1", _fit(random_state=-1), "random_state must be an integer"),
    ("verbose=9", _fit(verbose=9), "verbose must be an integer in [0, 2]"),
    ("fit empty pairs", lambda: __import__("deepdrim").DeepDRIM(n_neighbors=1).fit(_expression(), np.zeros((0, 2), int), []),
     "pairs must hold at least 2 labelled pairs"),
    ("fit labels of one class", lambda: __import__("deepdrim").DeepDRIM(n_neighbors=1).fit(
        _expression(), PAIRS, [1, 1, 1, 1]), "labels hold a single class"),
    ("fit labels of wrong length", lambda: __import__("deepdrim").DeepDRIM(n_neighbors=1).fit(
        _expression(), PAIRS, [1, 0]), "labels must have length 4"),
    ("fit labels of 2", lambda: __import__("deepdrim").DeepDRIM(n_neighbors=1).fit(
        _expression(), PAIRS, [2, 0, 1, 0]), "labels must be 0 or 1"),
    ("pair_images(n_bins=1.7)", _images(n_bins=1.7), "n_bins must be an integer in [2, 255]"),
    ("pair_images(n_bins=1)", _images(n_bins=1), "n_bins must be an integer in [2, 255]"),
    ("pair_images(n_bins=300)", _images(n_bins=300), "n_bins must be an integer in [2, 255]"),
    ("pair_images(batch_size=0)", _images(batch_size=0), "batch_size must be an integer >= 1"),
    ("pair_images(transform='sqrt')", _images(transform="sqrt"), "transform must be one of log, none"),
    ("pair_images(n_neighbors=-1)", _images(n_neighbors=-1), "n_neighbors must be an integer >= 0"),
    ("pair_images(neighbor_score='x')", _images(neighbor_score="x"), "neighbor_score must be one of"),
    ("pair_images pairs out of range", lambda: __import__("deepdrim.images").images.pair_images(
        _expression(), [[0, 99]], 1), "out of range 0..7"),
    ("pair_images pairs (g, g)", lambda: __import__("deepdrim.images").images.pair_images(
        _expression(), [[2, 2]], 1), "pair(s) of a gene with itself"),
    ("pair_images 1-D expression", lambda: __import__("deepdrim.images").images.pair_images(
        np.ones(5), [[0, 1]], 1), "expression must be a 2-D"),
    ("tf_validation_split(fraction=2)", lambda: __import__("deepdrim.cv").cv.tf_validation_split(
        PAIRS, LABELS, fraction=2), "fraction must be a number in (0, 1)"),
    ("tf_aware_folds(n_folds='x')", lambda: __import__("deepdrim.cv").cv.tf_aware_folds(PAIRS, "x"),
     "n_folds must be an integer"),
    ("make_folds(split='x')", lambda: __import__("deepdrim.cv").cv.make_folds(PAIRS, 2, split="x"),
     "split must be one of"),
    ("auroc([], [])", lambda: __import__("deepdrim.metrics").metrics.auroc([], []),
     "labels and scores must be 1-D of one non-zero length"),
    ("auprc length mismatch", lambda: __import__("deepdrim.metrics").metrics.auprc([1, 0], [0.1]),
     "labels and scores must be 1-D of one non-zero length"),
    ("early_precision_ratio length mismatch", lambda: __import__("deepdrim.metrics").metrics.early_precision_ratio(
        [1, 0], [0.1]), "labels and scores must be 1-D of one non-zero length"),
    ("bin_codes(n_bins=1.5)", lambda: __import__("deepdrim.histograms").histograms.bin_codes(_expression(), 1.5),
     "n_bins must be an integer in [1, 255]"),
    ("labelled_pairs(negatives='x')", lambda: __import__("deepdrim.pairs").pairs.labelled_pairs(
        ["a"], ["a", "b", "c"], [("a", "b")], negatives="x"), "negatives must be one of"),
    ("neighbor_lists(n_neighbors=1.5)", lambda: __import__("deepdrim.neighbors").neighbors.neighbor_lists(
        _expression(), 1.5), "n_neighbors must be an integer >= 1"),
    ("bootstrap_auroc_ci(level=2)", lambda: __import__("deepdrim.metrics").metrics.bootstrap_auroc_ci(
        ["a", "a"], [1, 0], [0.2, 0.1], level=2), "level must be in (0, 1)"),
    ("pair_images NaN expression", lambda: __import__("deepdrim.images").images.pair_images(
        np.full((5, 4), np.nan), [[0, 1]], 1), "NaN value(s)"),
]


@pytest.mark.parametrize("name, call, expected", LIBRARY_CASES, ids=[c[0] for c in LIBRARY_CASES])
def test_library_bad_argument_is_one_line_naming_it(name, call, expected):
    with pytest.raises(ValueError) as error:
        call()
    message = str(error.value)
    assert "\n" not in message and expected in message, message


@pytest.fixture()
def saved_model(tmp_path):
    """A folder shaped like a saved model: the two files :meth:`DeepDRIM.load` reads."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "deepdrim.json").write_text('{"params": {"n_neighbors": 1}, "n_genes": 8, "gene_names": null}')
    (folder / "model.keras").write_bytes(np.random.default_rng(1).bytes(2048))
    return folder


@pytest.mark.parametrize("json_text, expected", [
    ("{not json", "deepdrim.json is not a valid DeepDRIM model description (JSONDecodeError"),
    ('{"params": {"patience": "x"}, "n_genes": 8, "gene_names": null}', "patience must be an integer"),
    ('{"params": {}}', "(KeyError"),
    ('[1, 2]', "deepdrim.json is not a valid DeepDRIM model description"),
    (None, "model.keras is not a readable Keras model"),
])
def test_load_names_the_bad_file_and_writes_nothing(saved_model, json_text, expected):
    from deepdrim import DeepDRIM

    if json_text is not None:
        (saved_model / "deepdrim.json").write_text(json_text)
    before = _snapshot(saved_model.parent)
    with pytest.raises(ValueError) as error:
        DeepDRIM.load(saved_model)
    message = str(error.value)
    assert "\n" not in message and expected in message and str(saved_model) in message, message
    assert _snapshot(saved_model.parent) == before


# ------------------------------------------------------------------------------ the real command line
SUBPROCESS_CASES = [["training.learning_rate=abc"], ["tracking.uri=bogus://x"], ["nosuch=1"],
                    ["-m", "cv.n_folds=1,2"], ["experiment=nosuch"], ["+typo=1"],
                    ["data=beeline", "data.path={root}/header_only"]]  # no MLflow warning first


@pytest.mark.slow
@pytest.mark.parametrize("overrides", SUBPROCESS_CASES, ids=[" ".join(c) for c in SUBPROCESS_CASES])
def test_run_py_bad_input_leaves_no_folder(sandbox, overrides):
    before = _snapshot(sandbox)
    overrides = [o.replace("{root}", str(sandbox)) for o in overrides]
    base = [] if any(o.startswith("tracking.uri") for o in overrides) else [f"tracking.uri=sqlite:///{sandbox / 'mlflow.db'}"]
    done = subprocess.run([sys.executable, str(ROOT / "run.py"), *overrides, *base], cwd=sandbox,
                          capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert _snapshot(sandbox) == before  # no outputs/ or multirun/ folder (Hydra never started)


@pytest.mark.slow
def test_a_bad_job_of_a_sweep_fails_alone(sandbox, tiny):
    """The first job's data is malformed: it ends FAILED with its one line, the next job still runs
    and FINISHES, the parent counts both, and the process exits 2."""
    from mlflow.tracking import MlflowClient

    network = [o for o in tiny if not o.startswith("data.")]
    done = subprocess.run([sys.executable, str(ROOT / "run.py"), "-m", "data=beeline",
                           f"data.path={sandbox / 'header_only'},{sandbox / 'good'}", *network, "neighbors=1",
                           f"tracking.uri=sqlite:///{sandbox / 'mlflow.db'}", f"paths.multirun={sandbox / 'multirun'}"],
                          cwd=sandbox, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2, done.stderr[-2000:]
    errors = [line for line in done.stderr.replace("\r", "\n").splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith("error: job 0 (data.path=") and "header_only" in errors[0], errors
    assert "Traceback" not in done.stderr
    client = MlflowClient(f"sqlite:///{sandbox / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("deepdrim").experiment_id])
    parent = next(r for r in runs if r.data.tags.get("kind") == "multirun")
    children = {r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    bad, good = f"data.path={sandbox / 'header_only'}", f"data.path={sandbox / 'good'}"
    assert set(children) == {bad, good}  # named by what the sweep varies, not the whole override string
    assert children[bad].info.status == "FAILED" and "ExpressionData.csv" in children[bad].data.tags["error"]
    assert "\n" not in children[bad].data.tags["error"] and errors[0].endswith(children[bad].data.tags["error"])
    assert children[good].info.status == "FINISHED" and "auroc" in children[good].data.metrics
    assert parent.info.status == "FAILED" and parent.data.tags["jobs"].startswith("1 finished, 1 failed")
    assert not list((sandbox / "multirun").rglob("0/*.csv"))  # the failed job wrote nothing
