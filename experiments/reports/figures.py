"""The study figures (paper Fig. 1B, Fig. 4 A-D and the direction study) from a study's FINISHED MLflow
runs: the tables of their numbers, drawn by :mod:`deepdrim.plotting`, behind the multirun's summary
(``experiments.reports.summaries``) and ``task=report``.

What a study plots is its preset's ``figure`` block (``conf/experiment/<study>.yaml``): the swept
key ``x``, the key drawn as one line each ``line``, the ``title``, ``x_label``, ``log_x`` and the
paper's reference values ``paper``. Seeds are the replicates: every point is the mean over the runs
of one configuration with a 95% t-interval (``mean ± t(0.975, n-1) · sd / sqrt(n)``; a zero-width
interval for one seed). Each figure is a PNG next to a CSV of the plotted numbers, both written
atomically into ``out_dir``.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from mlflow.entities import Run

from deepdrim import plotting
from deepdrim.stats import grouped_mean_ci, mean_ci_table
from deepdrim.files import save_figure, write_csv

log = logging.getLogger(__name__)
PRESETS = Path(__file__).resolve().parents[2] / "conf" / "experiment"


def study_specs() -> dict[str, dict]:
    """study -> its preset's ``figure`` block, for every preset that has one (sorted by name)."""
    from omegaconf import OmegaConf

    specs = {}
    for path in sorted(PRESETS.glob("*.yaml")):
        preset = OmegaConf.load(path)
        if preset.get("figure") is not None:
            specs[str(preset.get("study") or path.stem)] = OmegaConf.to_container(preset.figure, resolve=False)
    return specs


def _number(text: Optional[str]) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")


def run_value(run: Run, key: Optional[str], fallback: Optional[str] = None) -> float:
    """A run's value of a figure's swept key: the run's metric of that name when it logged one (e.g.
    ``n_cells``, the cells a job kept: a swept fraction resolved on its data), else its param; NaN
    values fall back to the param ``fallback`` (runs that predate the metric)."""
    if not key:
        return float("nan")
    value = run.data.metrics[key] if key in run.data.metrics else _number(run.data.params.get(key))
    if not np.isfinite(value) and fallback:
        value = _number(run.data.params.get(fallback))
    return float(value)


def _runs_frame(runs: list[Run], x_key: Optional[str], line_key: Optional[str], x_fallback: Optional[str],
                metrics: dict[str, str]) -> pd.DataFrame:
    """One row per run: ``x`` and ``line`` (the figure's swept keys), ``seed`` and each column's metric."""
    return pd.DataFrame([{"x": run_value(run, x_key, x_fallback),
                          "line": _number(run.data.params.get(line_key)) if line_key else float("nan"),
                          "seed": _number(run.data.params.get("seed")),
                          **{name: run.data.metrics.get(metric, float("nan")) for name, metric in metrics.items()}}
                         for run in runs], columns=["x", "line", "seed", *metrics])


def run_table(runs: list, spec: dict, figure_spec: Optional[dict] = None) -> pd.DataFrame:
    """One row per MLflow run: ``x`` and ``line`` (the figure's swept keys), ``seed`` and the
    verdict's metric, as :func:`deepdrim.verdicts.study_verdict` takes it."""
    figure_spec, metric = figure_spec or {}, spec.get("metric", "auroc")
    return _runs_frame(runs, figure_spec.get("x"), figure_spec.get("line"), figure_spec.get("x_fallback"),
                       {metric: metric})


def sweep_table(runs: list[Run], x_key: str, line_key: Optional[str] = None,
                metrics: tuple[str, ...] = ("auroc", "auprc", "pcc/auroc", "pcc/auprc", "prior/auroc",
                                            "prior/auprc"), x_fallback: Optional[str] = None) -> pd.DataFrame:
    """One row per (line value, x value): ``n_seeds`` and per metric its mean, ci_low, ci_high
    (columns ``<metric>_mean`` etc., "/" written "_": ``pcc_auroc_mean`` is the Pearson baseline,
    ``prior_auroc_mean`` the gene-prior baseline)."""
    names = {m.replace("/", "_"): m for m in metrics}
    table = grouped_mean_ci(_runs_frame(runs, x_key, line_key, x_fallback, names), ["line", "x"], list(names))
    keys = {"x": x_key, **({"line": line_key} if line_key else {})}
    return table[[*keys, *table.columns[2:]]].rename(columns=keys)


def sweep_figure(runs: list[Run], study: str, spec: dict) -> tuple[Figure, pd.DataFrame]:
    """:func:`deepdrim.plotting.sweep` of the runs' :func:`sweep_table`, failed runs marked."""
    x_key, fallback = spec["x"], spec.get("x_fallback")
    table = sweep_table(runs, x_key, spec.get("line"), x_fallback=fallback)
    failed = pd.DataFrame([{x_key: run_value(r, x_key, fallback), **{m: r.data.metrics.get(m, float("nan"))
                                                                    for m in ("auroc", "auprc")}}
                           for r in failed_runs(runs)], columns=[x_key, "auroc", "auprc"])
    return plotting.sweep(table, x_key, spec.get("line"), title=f"{spec.get('title', study)} ({len(runs)} runs)",
                          x_label=spec.get("x_label", x_key), log_x=bool(spec.get("log_x", False)),
                          failed=failed), table


def metric_table(runs: list[Run], prefixes) -> pd.DataFrame:
    """Mean and 95% CI over seeds (one run each) of every run metric whose name starts with one of
    ``prefixes`` (its part before the first "/"; per-fold metrics left out): a seeds-only study's table."""
    names = sorted({name for run in runs for name in run.data.metrics
                    if "/fold" not in name and name.split("/")[0] in prefixes})
    return mean_ci_table({name: [run.data.metrics.get(name, float("nan")) for run in runs] for name in names})


def ggm_table(runs: list[Run], paper: Optional[dict] = None) -> pd.DataFrame:
    """Mean and 95% CI over seeds of each GGM metric (FPs per arm and kind, AUROCs, reductions)."""
    table = metric_table(runs, ("primary", "augmented", "deepdrim", "fp_reduction", "fp_reduction_matched",
                                "sensitivity"))
    table["paper"] = table.metric.map(paper or {})
    return table


def ggm_figure(runs: list[Run], study: str, spec: dict) -> tuple[Figure, pd.DataFrame]:
    """Paper Fig. 1B (:func:`deepdrim.plotting.false_positives`) of the runs' :func:`ggm_table`, beside
    the paper's FP reductions (``spec["paper"]``)."""
    paper = {str(k): float(v) for k, v in (spec.get("paper") or {}).items()}
    table = ggm_table(runs, paper)
    return plotting.false_positives(table, title=spec.get("title", study), paper=paper), table


def direction_figure(runs: list[Run], study: str, spec: dict) -> tuple[Figure, pd.DataFrame]:
    """The direction study (:func:`deepdrim.plotting.direction`) of its models' metrics over seeds."""
    table = metric_table(runs, (*(m for m, _ in plotting.DIRECTION_MODELS), "fp_reduction_matched",
                                "fpr_drop_matched", "direction_accuracy_gain"))
    return plotting.direction(table, title=spec.get("title", study)), table


def failed_runs(runs: list[Run]) -> list[Run]:
    """The runs whose model failed to learn in some fold (``trust`` tag, :mod:`deepdrim.diagnostics`)."""
    return [run for run in runs if (getattr(run.data, "tags", None) or {}).get("trust") == "failed_to_learn"]


def plotted_runs(runs: list[Run], spec: dict) -> list[Run]:
    """The runs a study figure can plot: those with its numbers (and a swept value)."""
    if spec.get("kind") == "ggm":
        return [run for run in runs if "primary/fp" in run.data.metrics]
    if spec.get("kind") == "direction":
        return [run for run in runs if "cnnc/existence_auroc" in run.data.metrics]
    return [run for run in runs if "auroc" in run.data.metrics
            and np.isfinite(run_value(run, spec["x"], spec.get("x_fallback")))]


def study_figure(finished_runs: list[Run], study: str, out_dir: Path, spec: Optional[dict] = None) -> list[Path]:
    """The figure (PNG) and its numbers (CSV) of ``study`` from its FINISHED runs, written into
    ``out_dir``; ``spec`` (default: the preset's ``figure`` block) says what to plot. [] when the
    study has no figure or no run has its numbers."""
    spec = spec if spec is not None else study_specs().get(study)
    if spec is None:
        log.warning("study %s has no figure (known: %s)", study, ", ".join(study_specs()))
        return []
    runs = plotted_runs(finished_runs, spec)
    if not runs:
        log.warning("study %s: no FINISHED runs with its numbers, no figure", study)
        return []
    draw = {"ggm": ggm_figure, "direction": direction_figure}.get(spec.get("kind"), sweep_figure)
    fig, table = draw(runs, study, spec)
    return [save_figure(fig, Path(out_dir) / f"{study}.png"),
            write_csv(table, Path(out_dir) / f"{study}.csv")]
