"""The study figures (paper Fig. 1B and Fig. 4 A-D) from a multirun's FINISHED MLflow runs.

Seeds are the replicates: every point is the mean over the runs of one configuration with a 95%
t-interval (``mean ± t(0.975, n-1) · sd / sqrt(n)``; no band from a single seed). Each figure is a
PNG next to a CSV of the plotted numbers, both written atomically into ``out_dir``.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from mlflow.entities import Run  # noqa: E402
from scipy import stats  # noqa: E402

from experiments import artifacts  # noqa: E402

log = logging.getLogger(__name__)

# study -> (swept param on the x axis, param drawn as one line each or None, x label, log x axis)
SWEEPS = {
    "fig4a_cells": ("cells", None, "cells", True),
    "fig4b_dropout": ("drop_cutoff", "drop_prob", "dropout cutoff (quantile)", False),
    "fig4c_neighbors": ("neighbors", None, "neighbors per gene", False),
    "fig4d_train_fraction": ("train_fraction", None, "training fraction", False),
}
TITLES = {
    "fig4a_cells": "Fig. 4A: number of cells",
    "fig4b_dropout": "Fig. 4B: MAGIC + BoolODE dropout",
    "fig4c_neighbors": "Fig. 4C: number of neighbors",
    "fig4d_train_fraction": "Fig. 4D: training-set size",
}
PAPER_FP_REDUCTION = {"overall": 0.404, "transitive": 0.554}  # augmented vs primary, paper Fig. 1B
GGM_ARMS = (("primary", "primary\n(32x32)"), ("augmented", "augmented\n(96x96)"), ("deepdrim", "DeepDRIM"))


def mean_ci(values) -> tuple[float, float, float, int]:
    """(mean, low, high, n) of the finite ``values`` with a 95% t-interval; NaN bounds for n < 2."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return float("nan"), float("nan"), float("nan"), 0
    mean = float(x.mean())
    if n < 2:
        return mean, float("nan"), float("nan"), 1
    half = float(stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / np.sqrt(n))
    return mean, mean - half, mean + half, n


def _number(text: Optional[str]) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")


def sweep_table(runs: list[Run], x_key: str, line_key: Optional[str] = None,
                metrics: tuple[str, ...] = ("auroc", "auprc", "pcc/auroc", "pcc/auprc")) -> pd.DataFrame:
    """One row per (line value, x value): ``n_seeds`` and per metric its mean, ci_low, ci_high
    (columns ``<metric>_mean`` etc., "/" written "_": ``pcc_auroc_mean`` is the Pearson baseline)."""
    names = [m.replace("/", "_") for m in metrics]
    records = [{"x": _number(run.data.params.get(x_key)),
                "line": _number(run.data.params.get(line_key)) if line_key else float("nan"),
                **{n: run.data.metrics.get(m, float("nan")) for m, n in zip(metrics, names)}} for run in runs]
    frame = pd.DataFrame(records, columns=["x", "line", *names])
    rows = []
    for (line, x), group in frame.groupby(["line", "x"], dropna=False, sort=True):
        row = {x_key: x, **({line_key: line} if line_key else {}), "n_seeds": len(group)}
        for name in names:
            mean, low, high, _ = mean_ci(group[name])
            row.update({f"{name}_mean": mean, f"{name}_ci_low": low, f"{name}_ci_high": high})
        rows.append(row)
    columns = [x_key, *([line_key] if line_key else []), "n_seeds",
               *[f"{n}_{s}" for n in names for s in ("mean", "ci_low", "ci_high")]]
    return pd.DataFrame(rows, columns=columns)


def sweep_figure(runs: list[Run], study: str, out_dir: Path) -> list[Path]:
    """AUROC and AUPRC against the swept value (a line per ``line`` value), mean and 95% CI band
    over seeds, the Pearson baseline dashed: ``<study>.png`` and ``<study>.csv``."""
    x_key, line_key, x_label, log_x = SWEEPS[study]
    table = sweep_table(runs, x_key, line_key)
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.8))
    lines = table.groupby(line_key, sort=True) if line_key else [(None, table)]
    for line, part in lines:
        label = f"{line_key}={line:g}" if line_key else "DeepDRIM"
        for ax, metric in zip(axes, ("auroc", "auprc")):
            (drawn,) = ax.plot(part[x_key], part[f"{metric}_mean"], marker="o", label=label)
            ax.fill_between(part[x_key], part[f"{metric}_ci_low"], part[f"{metric}_ci_high"], alpha=0.2,
                            color=drawn.get_color())
            if part[f"pcc_{metric}_mean"].notna().any():  # the Pearson |r| ranking of the same pairs
                ax.plot(part[x_key], part[f"pcc_{metric}_mean"], ls="--", lw=1, color=drawn.get_color(),
                        label=f"Pearson |r|{', ' + label if line_key else ''}")
    low, high = (int(table.n_seeds.min()), int(table.n_seeds.max())) if len(table) else (0, 0)
    seeds = str(high) if low == high else f"{low}-{high}"
    for ax, metric in zip(axes, ("AUROC", "AUPRC")):
        ax.axhline(0.5, ls=":", c="grey", lw=1)
        ax.set(xlabel=x_label, ylabel=metric, title=f"{metric} (mean, 95% CI over {seeds} seeds)")
        if log_x:
            ax.set_xscale("log")
        ax.legend(fontsize=8)
    fig.suptitle(TITLES.get(study, study), fontsize=11)
    fig.tight_layout()
    return [artifacts.save_figure(fig, out_dir / f"{study}.png"), artifacts.write_csv(table, out_dir / f"{study}.csv")]


def ggm_table(runs: list[Run]) -> pd.DataFrame:
    """Mean and 95% CI over seeds of each GGM metric (FPs per arm and kind, AUROCs, reductions)."""
    names = sorted({name for run in runs for name in run.data.metrics
                    if "/fold" not in name and name.split("/")[0] in ("primary", "augmented", "deepdrim",
                                                                      "fp_reduction")})
    rows = []
    for name in names:
        mean, low, high, n = mean_ci([run.data.metrics.get(name, float("nan")) for run in runs])
        rows.append({"metric": name, "mean": mean, "ci_low": low, "ci_high": high, "n_seeds": n})
    table = pd.DataFrame(rows, columns=["metric", "mean", "ci_low", "ci_high", "n_seeds"])
    paper = {"fp_reduction/augmented": PAPER_FP_REDUCTION["overall"],
             "fp_reduction/augmented_transitive": PAPER_FP_REDUCTION["transitive"]}
    table["paper"] = table.metric.map(paper)
    return table


def _pct(table: pd.DataFrame, name: str) -> str:
    row = table[table.metric == name]
    if row.empty or not np.isfinite(row["mean"].iloc[0]):
        return "n/a"
    mean, low, high = row[["mean", "ci_low", "ci_high"]].iloc[0]
    return f"{mean:.1%}" + (f" [{low:.1%}, {high:.1%}]" if np.isfinite(low) else "")


def ggm_figure(runs: list[Run], study: str, out_dir: Path) -> list[Path]:
    """Paper Fig. 1B: false positives at 0.5, random vs transitive, per arm (mean, 95% CI over
    seeds), annotated with the measured FP reductions vs primary and the paper's 40.4% / 55.4%."""
    table = ggm_table(runs)
    value = dict(zip(table.metric, table["mean"]))
    fig, ax = plt.subplots(figsize=(7.0, 4.4))
    arms = [(arm, label) for arm, label in GGM_ARMS if f"{arm}/fp" in value]
    width = 0.38
    for j, (kind, color) in enumerate((("random", "tab:blue"), ("transitive", "tab:orange"))):
        rows = [table[table.metric == f"{arm}/fp_{kind}"].iloc[0] for arm, _ in arms]
        means = np.array([r["mean"] for r in rows])
        err = np.array([[r["mean"] - r["ci_low"], r["ci_high"] - r["mean"]] for r in rows]).T
        xs = np.arange(len(arms)) + (j - 0.5) * width
        ax.bar(xs, means, width, color=color, label=f"FP {kind}",
               yerr=None if np.isnan(err).all() else np.nan_to_num(err), capsize=3)
    ax.set_xticks(np.arange(len(arms)), [label for _, label in arms])
    n = int(table.n_seeds.max()) if len(table) else 0
    ax.set(ylabel="false positives (score >= 0.5)", title=f"Fig. 1B: GGM false positives (mean, 95% CI, {n} seeds)")
    lines = [f"augmented vs primary: overall {_pct(table, 'fp_reduction/augmented')}, "
             f"transitive {_pct(table, 'fp_reduction/augmented_transitive')}",
             f"  paper: overall {PAPER_FP_REDUCTION['overall']:.1%}, transitive {PAPER_FP_REDUCTION['transitive']:.1%}",
             f"DeepDRIM vs primary: overall {_pct(table, 'fp_reduction/deepdrim')}, "
             f"transitive {_pct(table, 'fp_reduction/deepdrim_transitive')}"]
    ax.text(0.01, -0.22, "FP reduction " + "\n".join(lines), transform=ax.transAxes, fontsize=8, va="top",
            family="monospace")
    ax.legend(fontsize=8)
    return [artifacts.save_figure(fig, out_dir / f"{study}.png"), artifacts.write_csv(table, out_dir / f"{study}.csv")]


def study_figure(finished_runs: list[Run], study: str, out_dir: Path) -> list[Path]:
    """The figure (PNG) and its numbers (CSV) of ``study`` from its FINISHED runs, written into
    ``out_dir``; [] when the study has no figure or there are no runs."""
    out_dir = Path(out_dir)
    if not finished_runs:
        log.warning("study %s: no FINISHED runs, no figure", study)
        return []
    if study == "fig1_ggm":
        return ggm_figure(finished_runs, study, out_dir)
    if study in SWEEPS:
        return sweep_figure(finished_runs, study, out_dir)
    log.warning("study %s has no figure (known: fig1_ggm, %s)", study, ", ".join(SWEEPS))
    return []
