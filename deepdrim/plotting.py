"""Figures of the suite's tables: each function takes the plain table a study or job built and
returns a :class:`matplotlib.figure.Figure`; the caller saves it (:func:`deepdrim.files.save_figure`;
:func:`save_roc_pr` draws and saves a job's ROC and PR curves).

Figures are built without pyplot (no backend, no global figure list: safe under Agg, in a
notebook they display as usual) and draw the same things the same way: a mean with its 95%
interval is a line with a band (:func:`sweep`) or a bar with error bars (:func:`false_positives`,
:func:`direction`), chance levels are dotted grey lines. Study tables hold means over seeds with
their 95% intervals: :func:`deepdrim.stats.mean_ci_table` (``mean``, ``ci_low``, ``ci_high``,
``n_seeds`` per metric) or :func:`deepdrim.stats.grouped_mean_ci` (``<metric>_mean`` etc. per group).
"""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import precision_recall_curve, roc_curve

from deepdrim.comparison import CAPTION, MethodRun, references
from deepdrim.files import save_figure

#: a chance level or reference line
GUIDE = {"ls": ":", "c": "grey", "lw": 1}
#: the GGM study's arms (paper Fig. 1B) and their axis labels
GGM_ARMS = (("primary", "primary\n(32x32)"), ("augmented", "augmented\n(96x96)"), ("deepdrim", "DeepDRIM"))
#: the direction study's models and the metrics its figure shows
DIRECTION_MODELS = (("deepdrim", "DeepDRIM"), ("cnnc", "CNNC"), ("combined", "combined"),
                    ("baseline", "Pearson +\nregulator prior"))
DIRECTION_PANELS = (("existence_auroc", "existence AUROC"), ("fpr_matched", "FP rate at matched sensitivity"),
                    ("direction_auroc", "direction AUROC (true edges)"),
                    ("pairwise_direction_accuracy", "pairwise direction accuracy"))
#: a verdict's cell colour in :func:`verdict_matrix`
VERDICT_COLORS = {"supported": "#c7e9c0", "contradicted": "#fcbba1", "inconclusive": "#eeeeee",
                  "failed_to_learn": "#bdbdbd"}


# ---------------------------------------------------------------------------------------- shared parts
def _ci_bars(ax, xs, rows: pd.DataFrame, width: float = 0.8, **style) -> None:
    """Bars of ``rows["mean"]`` at ``xs`` with their 95% interval (``ci_low``/``ci_high``) as error bars."""
    means = rows["mean"].to_numpy(dtype=float)
    err = np.vstack([means - rows["ci_low"].to_numpy(dtype=float), rows["ci_high"].to_numpy(dtype=float) - means])
    ax.bar(xs, means, width, yerr=None if np.isnan(err).all() else np.nan_to_num(err), capsize=3, **style)


def _seeds(table: pd.DataFrame) -> int:
    return int(table.n_seeds.max()) if len(table) else 0


def _curve(ax_roc, ax_pr, name: str, labels, scores, ls: str = "-") -> None:
    """One ranking's ROC and PR curves."""
    fpr, tpr, _ = roc_curve(labels, scores)
    precision, recall, _ = precision_recall_curve(labels, scores)
    ax_roc.plot(fpr, tpr, ls=ls, label=name)
    ax_pr.plot(recall, precision, ls=ls, label=name)


def _curve_axes(ax_roc, ax_pr, roc_title: str, pr_title: str) -> None:
    ax_roc.plot([0, 1], [0, 1], **GUIDE)
    ax_roc.set(xlabel="false positive rate", ylabel="true positive rate", title=roc_title)
    ax_pr.set(xlabel="recall", ylabel="precision", title=pr_title, ylim=(0, 1.02))


def footnote(fig: Figure, text: str, width: int = 150) -> None:
    """Small monospace text under a figure (e.g. the runs it came from), wrapped at ``width``."""
    fig.text(0.01, -0.02, "\n".join(textwrap.wrap(text, width)), fontsize=6, va="top", family="monospace")


def note(text: str) -> Figure:
    """A figure that only says ``text``: what stands in for a plot that cannot be drawn."""
    fig = Figure(figsize=(6, 2.5))
    ax = fig.subplots()
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    return fig


# ---------------------------------------------------------------------------------------- curves
def roc_pr(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str) -> tuple[Figure, Figure]:
    """ROC and PR figures, one line per named (labels, scores); the PR chance level is the first
    ranking's positive rate."""
    fig_roc, fig_pr = Figure(figsize=(4.5, 4.2)), Figure(figsize=(4.5, 4.2))
    ax_roc, ax_pr = fig_roc.subplots(), fig_pr.subplots()
    for name, (labels, scores) in curves.items():
        _curve(ax_roc, ax_pr, name, labels, scores)
    _curve_axes(ax_roc, ax_pr, f"ROC - {title}", f"PR - {title}")
    ax_pr.axhline(float(np.mean(next(iter(curves.values()))[0])) if curves else 0.5, **GUIDE)
    for ax in (ax_roc, ax_pr):
        ax.legend(fontsize=8, loc="lower right")
    return fig_roc, fig_pr


def save_roc_pr(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], out_dir, title: str) -> list[Path]:
    """:func:`roc_pr` saved as ``roc.png`` and ``pr.png`` in ``out_dir`` (atomically)."""
    return [save_figure(fig, Path(out_dir) / name) for fig, name in zip(roc_pr(curves, title), ("roc.png", "pr.png"))]


def roc_pr_panel(curves: Sequence[tuple[str, np.ndarray, np.ndarray, str]], what: str) -> Figure:
    """ROC (left) and PR (right) of many rankings side by side: (name, labels, scores, line style)
    each; ``what`` names the pairs they ranked."""
    fig = Figure(figsize=(10, 4.4))
    ax_roc, ax_pr = fig.subplots(1, 2)
    for name, labels, scores, ls in curves:
        _curve(ax_roc, ax_pr, name, labels, scores, ls)
    _curve_axes(ax_roc, ax_pr, f"ROC ({what})", f"PR ({what})")
    ax_roc.legend(fontsize=7, loc="lower right")
    ax_pr.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------- study figures
def sweep(table: pd.DataFrame, x: str, line: Optional[str] = None, *, title: str, x_label: Optional[str] = None,
          log_x: bool = False, failed: Optional[pd.DataFrame] = None) -> Figure:
    """AUROC and AUPRC against the swept ``x`` (a line per ``line`` value), mean and 95% band over
    seeds, the Pearson baseline (``pcc_<metric>_*``) dashed, the gene prior (``prior_*``) dotted.
    ``table``: one row per (line, x) with ``n_seeds`` and ``<metric>_mean/_ci_low/_ci_high``;
    ``failed``: the runs that failed to learn (``x``, ``auroc``, ``auprc``), marked with red crosses."""
    fig = Figure(figsize=(9.5, 3.8))
    axes = fig.subplots(1, 2)
    for value, part in (table.groupby(line, sort=True) if line else [(None, table)]):
        label = f"{line}={value:g}" if line else "DeepDRIM"
        for ax, metric in zip(axes, ("auroc", "auprc")):
            (drawn,) = ax.plot(part[x], part[f"{metric}_mean"], marker="o", label=label)
            ax.fill_between(part[x], part[f"{metric}_ci_low"], part[f"{metric}_ci_high"], alpha=0.2,
                            color=drawn.get_color())
            for baseline, ls, name in (("pcc", "--", "Pearson |r|"), ("prior", ":", "gene prior")):
                column = f"{baseline}_{metric}_mean"
                if column in part and part[column].notna().any():
                    ax.plot(part[x], part[column], ls=ls, lw=1, color=drawn.get_color(),
                            label=f"{name}{', ' + label if line else ''}")
    low, high = (int(table.n_seeds.min()), int(table.n_seeds.max())) if len(table) else (0, 0)
    seeds = str(high) if low == high else f"{low}-{high}"
    for ax, metric in zip(axes, ("auroc", "auprc")):
        if failed is not None and len(failed):  # counted in the means, marked
            ax.scatter(failed[x], failed[metric], marker="x", color="red", zorder=4,
                       label=f"FAILED to learn ({len(failed)} run{'s' if len(failed) > 1 else ''})")
        ax.axhline(0.5, **GUIDE)
        ax.set(xlabel=x_label or x, ylabel=metric.upper(), title=f"{metric.upper()} (mean, 95% CI over {seeds} seeds)")
        if log_x:
            ax.set_xscale("log")
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def _pct(table: pd.DataFrame, name: str) -> str:
    """A row's mean as a percentage with its 95% interval, "n/a" without one."""
    if name not in table.index or not np.isfinite(table.at[name, "mean"]):
        return "n/a"
    mean, low, high = table.loc[name, ["mean", "ci_low", "ci_high"]]
    return f"{mean:.1%}" + (f" [{low:.1%}, {high:.1%}]" if np.isfinite(low) and low < high else "")


def false_positives(table: pd.DataFrame, *, title: str, paper: Optional[Mapping[str, float]] = None) -> Figure:
    """Paper Fig. 1B from the GGM study's metric table (one row per ``metric``): false positives,
    random vs transitive, per arm at threshold 0.5 and, when measured, at matched sensitivity
    (``fp_matched``), annotated with the FP reductions vs primary and the ``paper``'s."""
    paper = dict(paper or {})
    table = table.set_index("metric")
    matched = any(f"{arm}/fp_matched" in table.index for arm, _ in GGM_ARMS)
    fig = Figure(figsize=(11.0 if matched else 7.0, 4.6))
    axes = fig.subplots(1, 2 if matched else 1, squeeze=False)
    arms = [(arm, label) for arm, label in GGM_ARMS if f"{arm}/fp" in table.index]
    width = 0.38
    panels = [("fp", "false positives (score >= 0.5)")]
    if matched:
        sensitivity = table["mean"].get("sensitivity", float("nan"))
        panels.append(("fp_matched", f"false positives at {sensitivity:.0%} sensitivity"))
    for ax, (prefix, ylabel) in zip(axes[0], panels):
        for j, (kind, color) in enumerate((("random", "tab:blue"), ("transitive", "tab:orange"))):
            rows = table.reindex([f"{arm}/{prefix}_{kind}" for arm, _ in arms])
            _ci_bars(ax, np.arange(len(arms)) + (j - 0.5) * width, rows, width, color=color, label=f"FP {kind}")
        ax.set_xticks(np.arange(len(arms)), [label for _, label in arms])
        ax.set(ylabel=ylabel)
        ax.legend(fontsize=8)
    fig.suptitle(f"{title} (mean, 95% CI, {_seeds(table)} seeds)", fontsize=11)
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
    return fig


def direction(table: pd.DataFrame, *, title: str) -> Figure:
    """The direction study from its metric table (one row per ``<model>/<metric>``): per model,
    existence AUROC, FP rate at matched sensitivity, direction AUROC and pairwise direction
    accuracy (mean, 95% CI over seeds; chance dotted)."""
    table = table.set_index("metric")
    fig = Figure(figsize=(4.0 * len(DIRECTION_PANELS), 4.2))
    axes = fig.subplots(1, len(DIRECTION_PANELS))
    for ax, (metric, name) in zip(axes, DIRECTION_PANELS):
        rows = table.reindex([f"{model}/{metric}" for model, _ in DIRECTION_MODELS])
        _ci_bars(ax, np.arange(len(rows)), rows, color=["tab:blue", "tab:orange", "tab:green", "tab:gray"])
        ax.set_xticks(np.arange(len(rows)), [label for _, label in DIRECTION_MODELS], fontsize=8)
        if metric != "fpr_matched":
            ax.axhline(0.5, **GUIDE)
        ax.set(title=name, ylim=(0, 1))
    fig.suptitle(f"{title} (mean, 95% CI, {_seeds(table)} seeds)", fontsize=11)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------- comparisons
def _p_text(p: float) -> str:
    return f"p={p:.2g}" if np.isfinite(p) else "p n/a"


def comparison(runs: Sequence[MethodRun], table: pd.DataFrame, paper: Optional[Mapping[str, float]] = None) -> Figure:
    """Box plots of per-TF AUROC and AUPRC per method (paper Fig. 3), the p-values of ``table``
    (:func:`deepdrim.comparison.comparison_table` of ``runs``) above; ``paper`` ({"auroc": median,
    "auprc": median}) draws the paper's DeepDRIM medians."""
    rng = np.random.default_rng(0)  # jitter of the per-TF points only
    reference = references(runs)  # each context's, as comparison_table takes it
    fig = Figure(figsize=(max(8.0, 1.3 * len(runs) + 2), 4.8), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, metric in zip(axes, ("auroc", "auprc")):
        values = [r.per_tf[metric].to_numpy() for r in runs]
        ax.boxplot(values, widths=0.6, showfliers=False)
        for i, v in enumerate(values, 1):
            ax.scatter(i + rng.uniform(-0.15, 0.15, len(v)), v, s=8, alpha=0.5, color="tab:blue", zorder=3)
        for i, p in enumerate(table[f"p_{metric}"], 1):
            is_ref = reference.get(runs[i - 1].context) is runs[i - 1]
            ax.text(i, 1.02, "ref" if is_ref else _p_text(p), ha="center", va="bottom", fontsize=7,
                    transform=ax.get_xaxis_transform())
        failed = [" FAILED to learn" if r.metrics.get("n_failed_folds", 0) > 0 else "" for r in runs]
        ax.set_xticks(range(1, len(runs) + 1), [f"{r.label} ({len(r.per_tf)}){f}" for r, f in zip(runs, failed)],
                      rotation=40, ha="right", fontsize=8)
        ax.set_ylabel(f"per-TF {metric.upper()}")
        if metric == "auroc":
            ax.axhline(0.5, **GUIDE)
        if paper and metric in paper:
            ax.axhline(paper[metric], color="red", ls="--", lw=1,
                       label=f"paper: DeepDRIM median {metric.upper()} {paper[metric]} (its real data)")
            ax.legend(fontsize=7, loc="lower left")
    fig.suptitle("Per-TF AUROC/AUPRC per method (number of TFs); two-sided Wilcoxon signed-rank p vs DeepDRIM, "
                 f"paired by TF\n{CAPTION}", fontsize=9)
    return fig


def verdict_matrix(matrix: pd.DataFrame, long: pd.DataFrame) -> Figure:
    """The claim x data source matrix of :func:`deepdrim.verdicts.verdict_matrix` as a coloured
    table (green supported, red contradicted); ``long`` gives each cell's verdict."""
    sources = [c for c in matrix.columns if c != "claim"]
    fig = Figure(figsize=(max(8.0, 3.2 * len(sources) + 4.5), 0.55 * len(matrix) + 1.4))
    ax = fig.subplots()
    ax.axis("off")
    verdict = {(r["claim"], r["data"]): r["verdict"] for r in long.to_dict("records")}
    text = [["\n".join(textwrap.wrap(str(row["claim"]), 45))] + [str(row[s]).replace("] ", "]\n", 1) for s in sources]
            for _, row in matrix.iterrows()]
    table = ax.table(cellText=text, colLabels=["claim", *sources], loc="center", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    table.scale(1, 2.4)
    for (i, j), cell in table.get_celld().items():
        if i > 0 and j > 0:
            cell.set_facecolor(VERDICT_COLORS.get(verdict.get((matrix.iloc[i - 1]["claim"], sources[j - 1])), "white"))
    ax.set_title("Paper claims x data source: effect [95% CI] and verdict (newest multirun of each)", fontsize=9)
    return fig


def search_history(trials: pd.DataFrame, *, maximize: bool, ylabel: str, title: str,
                   test: Optional[Mapping[str, float]] = None) -> Figure:
    """A hyperparameter search's objective per trial: ``trials`` has ``trial``, ``value`` and
    ``state`` ("COMPLETE" / "PRUNED": its last reported value, marked); the best so far as a step
    line and the best configuration's ``test`` AUPRC/AUROC as dashed lines."""
    fig = Figure(figsize=(8, 4.2))
    ax = fig.subplots()
    done, pruned = trials[trials.state == "COMPLETE"], trials[trials.state == "PRUNED"]
    if len(done):
        ax.scatter(done.trial, done.value, label="complete trial", color="tab:blue", zorder=3)
        best = (np.maximum if maximize else np.minimum).accumulate(done.value.to_numpy(dtype=float))
        ax.step(done.trial, best, where="post", color="tab:red", label="best so far")
    if len(pruned):
        ax.scatter(pruned.trial, pruned.value, marker="x", color="grey", label="pruned (last reported epoch value)",
                   zorder=3)
    for name, color in (("auprc", "tab:green"), ("auroc", "tab:purple")):
        if name in (test or {}):
            ax.axhline(test[name], color=color, ls="--", lw=1,
                       label=f"best config on outer test folds: {name} {test[name]:.3f}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="trial", ylabel=ylabel, title=title)
    ax.legend(fontsize=7)
    return fig
