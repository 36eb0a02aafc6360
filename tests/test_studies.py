"""The study presets: what they compose to, how sweeps combine with overrides, the quick scale,
the training fraction vs the test fold, the study figures, bad inputs, and one preset end to end."""
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf, open_dict

from experiments.config import cli
from experiments.reports import figures
from tests.conftest import store_overrides, stand_in_for_deepdrim

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ("fig1_ggm", "fig4a_cells", "fig4b_dropout", "fig4c_neighbors", "fig4d_train_fraction")


def _multirun_config(config, *overrides):
    """The config a multirun's callbacks see for ``python run.py -m <overrides>``: composed without
    the sweeps, which stay in ``hydra.overrides.task`` for the sweeper."""
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    cfg = config(*[o.input_line for o in parsed if not o.is_sweep_override()], hydra=True)
    with open_dict(cfg):
        cfg.hydra.overrides.task = list(overrides)
    return cfg


def _jobs(config, *overrides):
    """The override lists Hydra's basic sweeper launches for ``python run.py -m <overrides>``."""
    cfg = _multirun_config(config, *overrides)
    lines = [f"{k}={v}" for k, v in cfg.hydra.sweeper.params.items()] + list(overrides)
    return BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(lines), None)[0]


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_names_its_study_experiment_and_sweep(preset, config):
    cfg = config(f"experiment={preset}", hydra=True)
    assert cfg.study == preset and cfg.tracking.experiment == preset
    assert str(cfg.hydra.mode) == "RunMode.MULTIRUN"
    assert cfg.hydra.sweeper.params.seed == "0,1,2"
    assert cfg.task == {"fig1_ggm": "fig1_ggm", "direction": "direction"}.get(preset, "cv")


def test_presets_sweep_the_papers_values(config):
    assert len(_jobs(config, "experiment=fig4a_cells")) == 8 * 3
    # fractions of the data's cells: on the 4,000-cell template, the paper's counts 20 ... 4,000
    fractions = (0.005, 0.0125, 0.025, 0.05, 0.125, 0.25, 0.5, 1.0)
    assert {job[0] for job in _jobs(config, "experiment=fig4a_cells")} == {f"cells={c}" for c in fractions}
    assert [round(f * config("experiment=fig4a_cells").data.n_cells) for f in fractions] == [
        20, 50, 100, 200, 500, 1000, 2000, 4000]
    assert len(_jobs(config, "experiment=fig4b_dropout")) == 2 * 10 * 3
    assert len(_jobs(config, "experiment=fig4c_neighbors")) == 7 * 3
    assert len(_jobs(config, "experiment=fig4d_train_fraction")) == 5 * 3
    assert len(_jobs(config, "experiment=fig1_ggm")) == 3
    cfg = config("experiment=fig4b_dropout")
    assert cfg.magic.enabled and cfg.data.n_cells == 4000 and cfg.data.n_genes == 400


def test_command_line_sweeps_replace_the_presets(config):
    jobs = _jobs(config, "experiment=fig4a_cells", "cells=100,500", "seed=0")
    assert sorted(sorted(job[:2]) for job in jobs) == [["cells=100", "seed=0"], ["cells=500", "seed=0"]]


def test_quick_scale_shrinks_but_keeps_the_cells(config):
    paper, quick = config("experiment=fig4a_cells"), config("experiment=fig4a_cells", "scale=quick")
    assert quick.data.n_cells == paper.data.n_cells == 4000
    assert quick.data.n_genes < paper.data.n_genes and quick.training.epochs <= paper.training.epochs
    assert config("experiment=fig1_ggm").ggm.n_datasets == 2500
    assert config("experiment=fig1_ggm", "scale=quick").ggm.n_datasets < 2500
    assert "ggm" not in config() and config().data.n_cells == config("scale=paper").data.n_cells


def test_training_fraction_never_touches_the_test_fold(monkeypatch, config, tiny):
    from experiments.config import data as job_data
    from experiments.config import method

    fits = []

    class Recorder:
        """Stands in for DeepDRIM: records the training pairs, scores every pair 0.5."""

        def __init__(self, **params):
            pass

        def fit(self, expression, pairs, labels, epoch_callback=None):
            fits.append(np.asarray(pairs))
            return self

        def predict_proba(self, pairs):
            return np.full((len(pairs), 2), 0.5)

    stand_in_for_deepdrim(monkeypatch, Recorder)
    cfg = config(*[o for o in tiny if not o.startswith("cv.")], "train_fraction=0.5", "cv.n_folds=3")
    data = job_data.load(OmegaConf.to_container(cfg.data, resolve=True), 0)
    predictions = method.cross_validate(cfg, data).predictions
    assert predictions.score.notna().all()  # every pair scored from the fold that held it out
    pairs = data.pairs.pairs
    names = np.array(data.gene_names, dtype=object)
    for k, trained in enumerate(fits):
        test = predictions[predictions.fold == k]
        held_out = set(zip(test.tf, test.target))
        assert not held_out & set(zip(names[trained[:, 0]], names[trained[:, 1]]))
        n_train = len(pairs) - len(test)
        assert abs(len(trained) - n_train / 2) <= 1


def _run(params, metrics):
    return SimpleNamespace(data=SimpleNamespace(params=params, metrics=metrics))


def test_sweep_figure_lines_per_drop_prob(tmp_path):
    runs = [_run({"drop_prob": str(p), "drop_cutoff": str(c), "seed": str(s)},
                 {"auroc": 0.9 - c / 2 - p / 10 + s / 100, "auprc": 0.8 - c / 2})
            for p in (0.3, 0.5) for c in (0.0, 0.5, 0.9) for s in (0, 1, 2)]
    paths = figures.study_figure(runs, "fig4b_dropout", tmp_path)
    assert [p.name for p in paths] == ["fig4b_dropout.png", "fig4b_dropout.csv"]
    assert paths[0].read_bytes()[:4] == b"\x89PNG"
    table = pd.read_csv(paths[1])
    assert len(table) == 6 and (table.n_seeds == 3).all()
    row = table[(table.drop_prob == 0.3) & (table.drop_cutoff == 0.5)].iloc[0]
    assert row.auroc_mean == pytest.approx(0.9 - 0.25 - 0.03 + 0.01)
    assert row.auroc_ci_low < row.auroc_mean < row.auroc_ci_high
    assert figures.study_figure([], "fig4b_dropout", tmp_path) == []
    runs[0].data.tags = {"trust": "failed_to_learn"}  # marked, still counted in its setting's mean
    assert figures.failed_runs(runs) == [runs[0]]
    assert pd.read_csv(figures.study_figure(runs, "fig4b_dropout", tmp_path)[1]).auroc_mean.tolist() == \
        table.auroc_mean.tolist()
    assert figures.study_figure(runs, "not_a_study", tmp_path) == []


def test_ggm_figure_reports_reductions_next_to_the_paper(tmp_path):
    runs = [_run({"seed": str(s)}, {"primary/fp": 10.0 + s, "primary/fp_random": 4.0, "primary/fp_transitive": 6.0 + s,
                                    "augmented/fp": 6.0, "augmented/fp_random": 3.0, "augmented/fp_transitive": 3.0,
                                    "deepdrim/fp": 5.0, "deepdrim/fp_random": 2.0, "deepdrim/fp_transitive": 3.0,
                                    "fp_reduction/augmented": 0.4 + s / 100,
                                    "fp_reduction/augmented_transitive": 0.5, "primary/auroc": 0.8})
            for s in range(3)]
    png, csv = figures.study_figure(runs, "fig1_ggm", tmp_path)
    table = pd.read_csv(csv).set_index("metric")
    assert table.loc["fp_reduction/augmented", "mean"] == pytest.approx(0.41)
    assert table.loc["fp_reduction/augmented", "paper"] == pytest.approx(0.404)
    assert table.loc["fp_reduction/augmented_transitive", "paper"] == pytest.approx(0.554)
    assert table.loc["primary/fp_transitive", "mean"] == pytest.approx(7.0)
    assert png.exists() and png.stat().st_size > 1000


def test_the_presets_pass_validation_as_they_are(tmp_path):
    assert len(cli.validate(["-m", *store_overrides(tmp_path), "method=deepdrim,cnnc,pcc"])) == 3  # cnnc's neighbors=0
    for preset in PRESETS:
        assert cli.validate(["-m", *store_overrides(tmp_path), f"experiment={preset}"])
        assert cli.validate([*store_overrides(tmp_path), f"experiment={preset}", "scale=quick"])  # hydra.mode sweeps


@pytest.mark.slow
def test_bad_inputs_are_one_line_exit_2_and_write_nothing(tmp_path):
    cases = {
        "cells": ["-m", "experiment=fig4a_cells", "scale=quick", "cells=5000", "seed=0"],
        "drop_prob": ["-m", "experiment=fig4b_dropout", "scale=quick", "drop_prob=1.5"],
        "train_fraction": ["-m", "experiment=fig4d_train_fraction", "scale=quick", "train_fraction=0"],
        "n_genes": ["-m", "experiment=fig1_ggm", "scale=quick", "ggm.n_genes=2"],
    }
    procs = {name: subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), *args, f"tracking.uri=sqlite:///{tmp_path / name / 'm.db'}",
         f"hydra.sweep.dir={tmp_path / name / 'multirun'}", f"hydra.run.dir={tmp_path / name / 'out'}"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name, args in cases.items()}
    for name, proc in procs.items():
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 2, (name, stderr[-2000:])
        assert stderr.strip().splitlines()[-1].startswith("error: "), (name, stderr[-2000:])
        assert "Traceback" not in stderr
        assert not (tmp_path / name / "m.db").exists(), name
        assert not list((tmp_path / name).glob("**/predictions.csv"))


@pytest.mark.slow
def test_unknown_preset_is_one_line_listing_the_presets(run_py):
    done = run_py("-m", "experiment=fig9_nope", timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unknown experiment preset 'fig9_nope'")
    assert all(preset in lines[0] for preset in PRESETS)


@pytest.mark.slow
def test_quick_preset_end_to_end(tmp_path, tiny, run_py):
    db = tmp_path / "mlflow.db"
    done = run_py("-m", "experiment=fig4d_train_fraction", "scale=quick", "train_fraction=0.5,1.0", "seed=0",
                  *tiny, "neighbors=1", f"tracking.uri=sqlite:///{db}", f"hydra.sweep.dir={tmp_path / 'multirun'}")
    assert done.returncode == 0, done.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{db}")
    experiment = client.get_experiment_by_name("fig4d_train_fraction")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("kind") == "multirun"]
    jobs = [r for r in runs if r.data.tags.get("kind") != "multirun"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(jobs) == 2 and all(r.info.status == "FINISHED" for r in jobs)
    assert sorted(r.data.params["train_fraction"] for r in jobs) == ["0.5", "1.0"]
    assert all(r.data.tags["study"] == "fig4d_train_fraction" for r in jobs)
    assert all(r.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for r in jobs)
    assert {r.data.params["training.epochs"] for r in jobs} == {"1"}  # the override beats the quick scale
    artifacts = {a.path for a in client.list_artifacts(parents[0].info.run_id)}
    assert {"fig4d_train_fraction.png", "fig4d_train_fraction.csv"} <= artifacts
    assert (tmp_path / "multirun" / "fig4d_train_fraction.png").exists()
    # the parent records the paper's claim and the verdict (one seed: inconclusive); jobs say how far to trust them
    assert parents[0].data.tags["verdict"] == "inconclusive" and parents[0].data.tags["claim"].startswith("Fig. 4D")
    assert "verdict/effect" in parents[0].data.metrics
    assert all(r.data.tags["cv_split"] == "tf" and r.data.tags["trust"] for r in jobs)
    assert all("prior/auroc" in r.data.metrics and "auroc_ci_low" in r.data.metrics for r in jobs)
