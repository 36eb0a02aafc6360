"""The study figures (paper Fig. 1B, Fig. 4 A-D and the direction study) from a study's FINISHED MLflow runs: the one
drawing code behind the multirun's summary (``experiments.reports.summaries``) and ``task=report``.

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

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from mlflow.entities import Run  # noqa: E402

from deepdrim.stats import mean_ci  # noqa: E402
from experiments.tracking import artifacts  # noqa: E402

log = logging.getLogger(__name__)
PRESETS = Path(__file__).resolve().parents[2] / "conf" / "experiment"
GGM_ARMS = (("primary", "primary\n(32x32)"), ("augmented", "augmented\n(96x96)"), ("deepdrim", "DeepDRIM"))


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


def run_table(runs: list, spec: dict, figure_spec: Optional[dict] = None) -> pd.DataFrame:
    """One row per MLflow run: ``x`` and ``line`` (the figure's swept keys), ``seed`` and the
    verdict's metric, as :func:`deepdrim.verdicts.study_verdict` takes it."""
    figure_spec = figure_spec or {}
    metric = spec.get("metric", "auroc")
    records = [{"x": run_value(run, figure_spec.get("x"), figure_spec.get("x_fallback")),
                "line": _number(run.data.params.get(figure_spec["line"])) if figure_spec.get("line") else float("nan"),
                "seed": _number(run.data.params.get("seed")),
                metric: run.data.metrics.get(metric, float("nan"))} for run in runs]
    return pd.DataFrame(records, columns=["x", "line", "seed", metric])


def sweep_table(runs: list[Run], x_key: str, line_key: Optional[str] = None,
                metrics: tuple[str, ...] = ("auroc", "auprc", "pcc/auroc", "pcc/auprc", "prior/auroc",
                                            "prior/auprc"), x_fallback: Optional[str] = None) -> pd.DataFrame:
    """One row per (line value, x value): ``n_seeds`` and per metric its mean, ci_low, ci_high
    (columns ``<metric>_mean`` etc., "/" written "_": ``pcc_auroc_mean`` is the Pearson baseline,
    ``prior_auroc_mean`` the gene-prior baseline)."""
    names = [m.replace("/", "_") for m in metrics]
    records = [{"x": run_value(run, x_key, x_fallback),
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


def sweep_figure(runs: list[Run], study: str, spec: dict, out_dir: Path) -> list[Path]:
    """AUROC and AUPRC against the swept value (a line per ``line`` value), mean and 95% CI band
    over seeds, the Pearson baseline dashed, the gene prior dotted: ``<study>.png`` and ``<study>.csv``."""
    x_key, line_key = spec["x"], spec.get("line")
    x_label, log_x = spec.get("x_label", x_key), bool(spec.get("log_x", False))
    table = sweep_table(runs, x_key, line_key, x_fallback=spec.get("x_fallback"))
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
            if part[f"prior_{metric}_mean"].notna().any():  # the gene-prior (identity shortcut) baseline
                ax.plot(part[x_key], part[f"prior_{metric}_mean"], ls=":", lw=1, color=drawn.get_color(),
                        label=f"gene prior{', ' + label if line_key else ''}")
    failed = failed_runs(runs)  # counted in the means at their AUROC (what the setting gave), marked
    for ax, metric in zip(axes, ("auroc", "auprc")):
        if failed:
            ax.scatter([run_value(r, x_key, spec.get("x_fallback")) for r in failed],
                       [r.data.metrics.get(metric, float("nan")) for r in failed], marker="x", color="red",
                       zorder=4, label=f"FAILED to learn ({len(failed)} run{'s' if len(failed) > 1 else ''})")
    low, high = (int(table.n_seeds.min()), int(table.n_seeds.max())) if len(table) else (0, 0)
    seeds = str(high) if low == high else f"{low}-{high}"
    for ax, metric in zip(axes, ("AUROC", "AUPRC")):
        ax.axhline(0.5, ls=":", c="grey", lw=1)
        ax.set(xlabel=x_label, ylabel=metric, title=f"{metric} (mean, 95% CI over {seeds} seeds)")
        if log_x:
            ax.set_xscale("log")
        ax.legend(fontsize=8)
    fig.suptitle(f"{spec.get('title', study)} ({len(runs)} runs)", fontsize=11)
    fig.tight_layout()
    return [artifacts.save_figure(fig, out_dir / f"{study}.png"), artifacts.write_csv(table, out_dir / f"{study}.csv")]


def metric_table(runs: list[Run], prefixes) -> pd.DataFrame:
    """Mean and 95% CI over seeds (one run each) of every run metric whose name starts with one of
    ``prefixes`` (its part before the first "/"; per-fold metrics left out): a seeds-only study's table."""
    names = sorted({name for run in runs for name in run.data.metrics
                    if "/fold" not in name and name.split("/")[0] in prefixes})
    rows = []
    for name in names:
        mean, low, high, n = mean_ci([run.data.metrics.get(name, float("nan")) for run in runs])
        rows.append({"metric": name, "mean": mean, "ci_low": low, "ci_high": high, "n_seeds": n})
    return pd.DataFrame(rows, columns=["metric", "mean", "ci_low", "ci_high", "n_seeds"])


def ggm_table(runs: list[Run], paper: Optional[dict] = None) -> pd.DataFrame:
    """Mean and 95% CI over seeds of each GGM metric (FPs per arm and kind, AUROCs, reductions)."""
    table = metric_table(runs, ("primary", "augmented", "deepdrim", "fp_reduction", "fp_reduction_matched",
                                "sensitivity"))
    table["paper"] = table.metric.map(paper or {})
    return table


def _pct(table: pd.DataFrame, name: str) -> str:
    row = table[table.metric == name]
    if row.empty or not np.isfinite(row["mean"].iloc[0]):
        return "n/a"
    mean, low, high = row[["mean", "ci_low", "ci_high"]].iloc[0]
    return f"{mean:.1%}" + (f" [{low:.1%}, {high:.1%}]" if np.isfinite(low) and low < high else "")


def ggm_figure(runs: list[Run], study: str, spec: dict, out_dir: Path) -> list[Path]:
    """Paper Fig. 1B: false positives, random vs transitive, per arm (mean, 95% CI over seeds) at
    threshold 0.5 (left) and at matched sensitivity (right: each arm thresholded where it finds
    the same fraction of positives, ``ggm.sensitivity``), annotated with the measured FP
    reductions vs primary and the paper's (``spec["paper"]``)."""
    paper = {str(k): float(v) for k, v in (spec.get("paper") or {}).items()}
    table = ggm_table(runs, paper)
    value = dict(zip(table.metric, table["mean"]))
    matched = any(f"{arm}/fp_matched" in value for arm, _ in GGM_ARMS)
    fig, axes = plt.subplots(1, 2 if matched else 1, figsize=(11.0 if matched else 7.0, 4.6), squeeze=False)
    arms = [(arm, label) for arm, label in GGM_ARMS if f"{arm}/fp" in value]
    width = 0.38
    sensitivity = value.get("sensitivity", float("nan"))
    panels = [("fp", "false positives (score >= 0.5)")]
    if matched:
        panels.append(("fp_matched", f"false positives at {sensitivity:.0%} sensitivity"))
    for ax, (prefix, ylabel) in zip(axes[0], panels):
        for j, (kind, color) in enumerate((("random", "tab:blue"), ("transitive", "tab:orange"))):
            rows = [table[table.metric == f"{arm}/{prefix}_{kind}"] for arm, _ in arms]
            means = np.array([r["mean"].iloc[0] if len(r) else np.nan for r in rows])
            err = np.array([[r["mean"].iloc[0] - r["ci_low"].iloc[0], r["ci_high"].iloc[0] - r["mean"].iloc[0]]
                            if len(r) else [np.nan, np.nan] for r in rows]).T
            xs = np.arange(len(arms)) + (j - 0.5) * width
            ax.bar(xs, means, width, color=color, label=f"FP {kind}",
                   yerr=None if np.isnan(err).all() else np.nan_to_num(err), capsize=3)
        ax.set_xticks(np.arange(len(arms)), [label for _, label in arms])
        ax.set(ylabel=ylabel)
        ax.legend(fontsize=8)
    n = int(table.n_seeds.max()) if len(table) else 0
    fig.suptitle(f"{spec.get('title', study)} (mean, 95% CI, {n} seeds)", fontsize=11)
    lines = [f"augmented vs primary at 0.5: overall {_pct(table, 'fp_reduction/augmented')}, "
             f"transitive {_pct(table, 'fp_reduction/augmented_transitive')}",
             "  paper: overall {}, transitive {}".format(*(f"{paper[k]:.1%}" if k in paper else "n/a" for k in (
                 "fp_reduction/augmented", "fp_reduction/augmented_transitive"))),
             f"DeepDRIM vs primary at 0.5: overall {_pct(table, 'fp_reduction/deepdrim')}, "
             f"transitive {_pct(table, 'fp_reduction/deepdrim_transitive')}"]
    if matched:
        lines += [f"at matched sensitivity: augmented {_pct(table, 'fp_reduction_matched/augmented')} "
                  f"(transitive {_pct(table, 'fp_reduction_matched/augmented_transitive')}), DeepDRIM "
                  f"{_pct(table, 'fp_reduction_matched/deepdrim')} "
                  f"(transitive {_pct(table, 'fp_reduction_matched/deepdrim_transitive')})"]
    axes[0][0].text(0.01, -0.16, "FP reduction " + "\n".join(lines), transform=axes[0][0].transAxes, fontsize=8,
                    va="top", family="monospace")
    return [artifacts.save_figure(fig, out_dir / f"{study}.png"), artifacts.write_csv(table, out_dir / f"{study}.csv")]


#: the direction study's models (experiments/tasks/direction.py) and the metrics its figure shows
DIRECTION_MODELS = (("deepdrim", "DeepDRIM"), ("cnnc", "CNNC"), ("combined", "combined"),
                    ("baseline", "Pearson +\nregulator prior"))
DIRECTION_PANELS = (("existence_auroc", "existence AUROC"), ("fpr_matched", "FP rate at matched sensitivity"),
                    ("direction_auroc", "direction AUROC (true edges)"),
                    ("pairwise_direction_accuracy", "pairwise direction accuracy"))


def direction_figure(runs: list[Run], study: str, spec: dict, out_dir: Path) -> list[Path]:
    """The direction study: per model, existence AUROC, FP rate at matched sensitivity, direction
    AUROC and pairwise direction accuracy (mean, 95% CI over seeds; chance dotted)."""
    table = metric_table(runs, (*(m for m, _ in DIRECTION_MODELS), "fp_reduction_matched", "fpr_drop_matched",
                                "direction_accuracy_gain")).set_index("metric")
    fig, axes = plt.subplots(1, len(DIRECTION_PANELS), figsize=(4.0 * len(DIRECTION_PANELS), 4.2))
    for ax, (metric, title) in zip(axes, DIRECTION_PANELS):
        keys = [f"{model}/{metric}" for model, _ in DIRECTION_MODELS]
        means = np.array([table["mean"].get(k, np.nan) for k in keys])
        err = np.array([[m - table["ci_low"].get(k, np.nan), table["ci_high"].get(k, np.nan) - m]
                        for m, k in zip(means, keys)]).T
        ax.bar(np.arange(len(keys)), means, color=["tab:blue", "tab:orange", "tab:green", "tab:gray"],
               yerr=np.nan_to_num(err), capsize=3)
        ax.set_xticks(np.arange(len(keys)), [label for _, label in DIRECTION_MODELS], fontsize=8)
        if metric != "fpr_matched":
            ax.axhline(0.5, ls=":", c="grey", lw=1)
        ax.set(title=title, ylim=(0, 1))
    n = int(table.n_seeds.max()) if len(table) else 0
    fig.suptitle(f"{spec.get('title', study)} (mean, 95% CI, {n} seeds)", fontsize=11)
    fig.tight_layout()
    return [artifacts.save_figure(fig, out_dir / f"{study}.png"),
            artifacts.write_csv(table.reset_index(), out_dir / f"{study}.csv")]


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
    return draw(runs, study, spec, Path(out_dir))
