"""deepdrim.plotting: figures from plain tables, without pyplot, TensorFlow or the suite's tracking."""
import subprocess
import sys

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from deepdrim import plotting


def _rows(names, mean):
    return pd.DataFrame({"metric": names, "mean": mean, "ci_low": mean - 0.05, "ci_high": mean + 0.05, "n_seeds": 3})


def test_import_loads_no_pyplot_tensorflow_or_tracking():
    code = ("import sys, deepdrim.plotting; bad = [m for m in ('matplotlib.pyplot', 'tensorflow', 'mlflow', "
            "'omegaconf', 'experiments', 'sim') if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_sweep_draws_a_line_per_value_with_baselines_and_failed_runs():
    table = pd.DataFrame({"cells": [100, 1000] * 2, "drop_prob": [0.1, 0.1, 0.5, 0.5], "n_seeds": 3,
                          **{f"{m}_{s}": [0.6, 0.7, 0.65, 0.75] for m in ("auroc", "auprc", "pcc_auroc")
                             for s in ("mean", "ci_low", "ci_high")}})
    failed = pd.DataFrame({"cells": [100], "auroc": [0.5], "auprc": [0.5]})
    fig = plotting.sweep(table, "cells", "drop_prob", title="t (12 runs)", log_x=True, failed=failed)
    left, right = fig.axes
    assert [t.get_text() for t in left.get_legend().get_texts()] == [
        "drop_prob=0.1", "Pearson |r|, drop_prob=0.1", "drop_prob=0.5", "Pearson |r|, drop_prob=0.5",
        "FAILED to learn (1 run)"]
    assert left.get_title() == "AUROC (mean, 95% CI over 3 seeds)" and right.get_ylabel() == "AUPRC"
    assert left.get_xscale() == "log" and fig.get_suptitle() == "t (12 runs)"


def test_bar_figures_and_curves_are_figures():
    metrics = [f"{arm}/fp{m}_{kind}" for arm in ("primary", "augmented") for m in ("", "_matched")
               for kind in ("random", "transitive")] + ["primary/fp", "augmented/fp", "primary/fp_matched"]
    fig = plotting.false_positives(_rows(metrics, np.linspace(1, 5, len(metrics))), title="GGM",
                                   paper={"fp_reduction/augmented": 0.404})
    assert len(fig.axes) == 2 and fig.get_suptitle() == "GGM (mean, 95% CI, 3 seeds)"
    models = [f"{m}/{p}" for m, _ in plotting.DIRECTION_MODELS for p, _ in plotting.DIRECTION_PANELS]
    assert len(plotting.direction(_rows(models, np.full(len(models), 0.6)), title="d").axes) == 4
    labels = np.tile([0, 1], 20)
    roc, pr = plotting.roc_pr({"a": (labels, labels + np.linspace(0, 1, 40))}, "job")
    assert roc.axes[0].get_title() == "ROC - job" and pr.axes[0].get_title() == "PR - job"
    assert isinstance(plotting.note("not drawn: too few trials"), Figure)
