"""``task=report``: the paper's figures from the MLflow store.

Reads the runs the studies, comparisons and searches left (never re-runs anything) and writes one
self-contained ``report.html`` (figures base64-embedded) plus the PNGs and ``sources.json`` (the
run ids behind each panel) into the output folder, then logs them as artifacts of a ``report``
run. Panels: Fig. 1B (false positives per arm, GGM study), Fig. 4 A-D (AUROC/AUPRC vs the swept
knob, mean and 95% CI over seeds), the method comparison (per-TF box plots, Wilcoxon p-values)
and the newest hyperparameter search. A panel without runs says so instead of failing. The
paper's numbers are drawn as markers labelled "paper" (its real data, not ours).
"""
from __future__ import annotations

import base64
import html
import json
import os
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pandas as pd
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from experiments import artifacts, figures, tracking  # noqa: I001 - artifacts selects the Agg backend first
from experiments.tasks import compare
from experiments.verdict_matrix import parent_data_label, verdict_matrix, verdict_matrix_figure, verdict_records
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

PAPER_MEDIAN = {"auroc": 0.789, "auprc": 0.809}  # headline DeepDRIM medians on the paper's real data
REPORT_EXPERIMENT = "report"


@dataclass
class Panel:
    """One report section: its PNG (None when there were no runs), the runs behind it, notes."""

    key: str
    title: str
    png: Optional[Path] = None
    run_ids: list = field(default_factory=list)
    note: str = ""
    tables: list = field(default_factory=list)  # (caption, DataFrame)
    verdict: Optional[dict] = None  # a study's row of the verdict table (:func:`verdict_row`)


# ---------------------------------------------------------------------------- the store
def open_store(uri: str) -> MlflowClient:
    """A client on an existing, non-empty store; one-line ValueError otherwise."""
    path = tracking.sqlite_path(uri)
    if path is not None and not path.is_file():
        raise ValueError(f"no MLflow store at {path}: run some jobs first (python run.py) or set tracking.uri")
    client = MlflowClient(tracking.resolve_uri(uri))
    experiments = [e.experiment_id for e in tracking.with_retry(client.search_experiments)]
    if not experiments or not tracking.with_retry(client.search_runs, experiments, max_results=1):
        raise ValueError(f"the MLflow store {uri} has no runs: run some jobs first (python run.py)")
    return client


def search_all(client: MlflowClient, filter_string: str) -> list[Run]:
    """Every run of every active experiment matching the filter, newest first."""
    experiments = [e.experiment_id for e in tracking.with_retry(client.search_experiments)]
    runs, token = [], None
    while True:
        page = tracking.with_retry(client.search_runs, experiments, filter_string=filter_string,
                                   order_by=["attributes.start_time DESC"], max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def newest_per_config(runs: list[Run]) -> list[Run]:
    """One run per configuration (its config hash tag; a run without one stands alone): the
    newest, as runs come newest first."""
    seen, kept = set(), []
    for run in runs:
        key = run.data.tags.get(tracking.HASH_TAG) or run.info.run_id
        if key not in seen:
            seen.add(key)
            kept.append(run)
    return kept


# ---------------------------------------------------------------------------- drawing helpers
def _footer(fig, run_ids: list) -> None:
    """Name the runs a figure came from at its bottom (short ids; full ids in the HTML)."""
    text = f"MLflow runs ({len(run_ids)}): " + " ".join(r[:8] for r in run_ids)
    fig.text(0.01, -0.02, "\n".join(textwrap.wrap(text, 150)), fontsize=6, va="top", family="monospace")


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


# ---------------------------------------------------------------------------- panels
def study_panel(client: MlflowClient, out: Path, study: str, spec: dict) -> Panel:
    """A study's figure (``experiments.figures``, as the multirun summary draws it) from the runs its
    newest multirun listed (:func:`study_runs`), with the numbers it plots and its verdict."""
    panel = Panel(study, spec.get("title", study))
    runs = search_all(client, f"tags.study = '{study}' and attributes.status = 'FINISHED'")
    runs, source = study_runs(client, study, runs)
    paths = figures.study_figure(runs, study, out, spec) if runs else []  # no runs: the note says so, no warning
    if not paths:
        panel.note = f"no runs: run python run.py -m experiment={study}"
        return panel
    panel.png = paths[0]
    table = pd.read_csv(paths[1])
    plotted = figures.plotted_runs(runs, spec)
    panel.run_ids = [r.info.run_id for r in plotted]
    split = split_text(plotted, spec)
    panel.note = f"{source}; split: {split}" + ("; the gene prior (prior_*) is the identity-shortcut baseline beside "
                                      "DeepDRIM and Pearson" if spec.get("kind") != "ggm" else "")
    panel.tables.append(("mean and 95% CI over seeds", table))
    panel.verdict = verdict_row(study, plotted, spec, split)
    return panel


def study_runs(client: MlflowClient, study: str, runs: list[Run]) -> tuple[list[Run], str]:
    """The runs a study panel draws, and where they came from: those of the newest FINISHED multirun
    of the study that listed them (its ``study_runs.csv``, so variants of a study in one store, e.g.
    another scale or ``model.neighbor_values``, never mix); else the newest run per configuration."""
    from experiments.summaries import STUDY_RUNS

    by_id = {run.info.run_id: run for run in runs}
    parents = search_all(client, f"tags.kind = 'multirun' and tags.study = '{study}' and attributes.status = 'FINISHED'")
    for parent in parents:
        with tempfile.TemporaryDirectory() as folder:
            listed = _download(client, parent.info.run_id, STUDY_RUNS, Path(folder))
            ids = None if listed is None else pd.read_csv(listed)["run_id"].astype(str)
        if ids is None:
            continue
        chosen = [by_id[i] for i in ids if i in by_id]
        if chosen:
            return chosen, (f"the {len(chosen)} runs of multirun {parent.info.run_id[:8]} "
                            f"({parent.info.run_name}, the newest that listed its runs)")
    return newest_per_config(runs), "the newest run of each configuration in the store"


def split_text(runs: list[Run], spec: dict) -> str:
    """Which cross-validation split the runs used (the ``cv_split`` tag; "tf" before it existed)."""
    if spec.get("kind") == "ggm":
        return "folds over datasets (both pairs of a dataset on one side)"
    splits = sorted({run.data.tags.get("cv_split", "tf") for run in runs})
    names = {"tf": "tf (TF-aware, the paper's)", "strict": "strict (no gene on both sides)"}
    return ", ".join(names.get(s, s) for s in splits)


def verdict_row(study: str, runs: list[Run], spec: dict, split: str) -> Optional[dict]:
    """The study's claim and measured verdict (:mod:`experiments.verdicts`) as one table row."""
    from experiments.verdicts import run_table, study_verdict

    claim = spec.get("verdict")
    if not claim or not runs:
        return None
    v = study_verdict(run_table(runs, claim, spec), claim)
    prior = [r.data.metrics["prior/auroc"] for r in runs if "prior/auroc" in r.data.metrics]
    auroc = [r.data.metrics["auroc"] for r in runs if "auroc" in r.data.metrics and "prior/auroc" in r.data.metrics]
    return {"study": study, "claim": v.claim, "effect": v.effect, "ci_low": v.ci_low, "ci_high": v.ci_high,
            "n_seeds": v.n_seeds, "verdict": v.verdict, "paper": v.details.get("paper", float("nan")),
            "smallest_x": v.details.get("smallest_x", float("nan")),
            "DeepDRIM auroc (all runs)": float("nan") if not auroc else float(sum(auroc) / len(auroc)),
            "gene prior auroc (all runs)": float("nan") if not prior else float(sum(prior) / len(prior)),
            "split": split}


def _download(client: MlflowClient, run_id: str, path: str, into: Path) -> Optional[Path]:
    try:
        return Path(client.download_artifacts(run_id, path, str(into)))
    except Exception:  # noqa: BLE001 - a run without that artifact
        return None


def _children(client: MlflowClient, parent: Run) -> list[Run]:
    """A multirun parent's FINISHED cross-validation jobs."""
    return [run for run in tracking.with_retry(
        client.search_runs, [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}' and attributes.status = 'FINISHED'",
        max_results=5000) if run.data.tags.get("task", "cv") == "cv" and run.data.tags.get("method")]


def _adhoc(run: Run) -> bool:
    """A run of no study (studies have their own panels; their runs never enter the comparison)."""
    return run.data.tags.get("study", "adhoc") in ("adhoc", "", "None")


def comparison_runs(client: MlflowClient) -> tuple[list, list, str]:
    """(fetched :class:`compare.MethodRun` s, run ids, source) of the newest ad-hoc multirun (never a
    study's) whose FINISHED CV jobs hold two or more method labels: compared within each context
    (same data, seed and folds), labelled by method and swept values (:mod:`experiments.naming`).
    Without one, the newest ad-hoc single CV jobs that share their folds (one per label)."""
    import mlflow

    from experiments import naming

    mlflow.set_tracking_uri(client.tracking_uri)  # compare.fetch uses the default client
    for parent in [p for p in search_all(client, "tags.kind = 'multirun'") if _adhoc(p)][:50]:
        children = _children(client, parent)
        if len({naming.names(children)[r.info.run_id][0] for r in children}) < 2:
            continue
        fetched = compare.fetch(children)
        if len({r.label for r in fetched}) > 1:
            return fetched, [parent.info.run_id, *(r.run_id for r in fetched)], (
                f"recomputed from multirun {parent.info.run_id[:8]}: its {len(fetched)} "
                f"CV jobs, compared within each fold context")
    singles = [r for r in search_all(client, "tags.task = 'cv' and attributes.status = 'FINISHED'")
               if _adhoc(r) and r.data.tags.get("method") and "mlflow.parentRunId" not in r.data.tags]
    group = naming.newest_comparable(singles)
    if group:
        fetched = compare.fetch(group)
        if len({r.label for r in fetched}) > 1:
            return fetched, [r.run_id for r in fetched], (
                f"recomputed from the newest {len(fetched)} single CV jobs on the same data, seed and folds")
    return [], [], ""


def comparison_panel(client: MlflowClient, out: Path) -> Panel:
    """Per-TF AUROC and AUPRC box plots per method, Wilcoxon p vs DeepDRIM, paper medians marked."""
    panel = Panel("comparison", "Method comparison: per-TF AUROC / AUPRC (Wilcoxon signed-rank vs DeepDRIM)")
    runs, ids, source = comparison_runs(client)
    if not runs:
        panel.note = ("no runs: needs CV runs of two or more methods on the same folds, e.g. "
                      "python run.py -m method=deepdrim,cnnc,pcc,genie3")
        return panel
    panel.run_ids = list(dict.fromkeys(ids))
    table = compare.comparison_table(runs)
    fig = compare.comparison_figure(runs, table, paper=PAPER_MEDIAN)
    fig.suptitle("\n".join(textwrap.wrap(f"Method comparison ({source}); two-sided Wilcoxon signed-rank p vs "
                                         "DeepDRIM, paired by TF", 110)), fontsize=9)
    _footer(fig, panel.run_ids)
    panel.png = artifacts.save_figure(fig, out / "method_comparison.png")
    panel.note = f"source: {source}"
    keep = [c for c in ("label", "median_auroc", "median_auprc", "epr", "p_auroc", "p_auprc", "n_tfs", "run_id")
            if c in table]
    panel.tables.append(("comparison table", table[keep]))
    return panel


#: the runs table's columns: (MLflow metric or param, shown as)
RUN_COLUMNS = (("auroc", "auroc"), ("auprc", "auprc"), ("median_tf_auroc", "median TF auroc"),
               ("pcc/auroc", "Pearson auroc"), ("prior/auroc", "gene prior auroc"))
#: most runs drawn as curves / listed in the table
MAX_CURVES, MAX_ROWS = 6, 100


def runs_panel(client: MlflowClient, out: Path) -> Panel:
    """Whatever CV jobs the store holds, studies or not: ROC and PR curves of the newest ad-hoc ones
    (one per configuration, from their ``predictions.csv``; Pearson |r| and the gene prior of the
    newest dashed) and a table of every FINISHED CV run (newest first)."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    from experiments import naming

    panel = Panel("runs", "Cross-validation runs: ROC / PR curves and the runs table")
    runs = [r for r in search_all(client, "tags.task = 'cv' and attributes.status = 'FINISHED'")
            if "auroc" in r.data.metrics]
    if not runs:
        panel.note = "no runs: run python run.py"
        return panel
    rows = [{"run": r.info.run_name, "study": r.data.tags.get("study", "adhoc"),
             "method": naming.DISPLAY.get(naming.method_of(r), naming.method_of(r)),
             "neighbors": r.data.params.get("neighbors"), "seed": r.data.params.get("seed"),
             **{shown: r.data.metrics.get(key, float("nan")) for key, shown in RUN_COLUMNS},
             "trust": r.data.tags.get("trust", ""), "run_id": r.info.run_id} for r in runs[:MAX_ROWS]]
    panel.tables.append((f"FINISHED CV runs, newest first ({min(len(runs), MAX_ROWS)} of {len(runs)})",
                         pd.DataFrame(rows)))
    drawn = []
    fig, (ax_roc, ax_pr) = plt.subplots(1, 2, figsize=(10, 4.4))
    with tempfile.TemporaryDirectory(prefix="report.") as tmp:
        for run in newest_per_config([r for r in runs if _adhoc(r)]):
            if len(drawn) == MAX_CURVES:
                break
            local = _download(client, run.info.run_id, "predictions.csv", Path(tmp) / run.info.run_id)
            if local is None:
                continue
            table = pd.read_csv(local)
            table = table[table.get("fold", 0) >= 0] if "fold" in table else table
            columns = [("score", f"{run.info.run_name} (AUROC {run.data.metrics['auroc']:.3f})", "-")]
            if not drawn:
                columns += [("pcc", "Pearson |r| (same pairs)", "--"), ("prior", "gene prior (same pairs)", ":")]
            for column, name, style in columns:
                if column not in table:
                    continue
                part = table[np.isfinite(pd.to_numeric(table[column], errors="coerce"))]
                if part["label"].nunique() < 2:
                    continue
                fpr, tpr, _ = roc_curve(part["label"], part[column])
                precision, recall, _ = precision_recall_curve(part["label"], part[column])
                ax_roc.plot(fpr, tpr, ls=style, label=name)
                ax_pr.plot(recall, precision, ls=style, label=name)
            drawn.append(run.info.run_id)
    if not drawn:
        plt.close(fig)
        panel.note = "no ad-hoc CV run with predictions.csv to draw curves from; the runs table lists every CV run"
        panel.run_ids = [r.info.run_id for r in runs[:MAX_ROWS]]
        return panel
    ax_roc.plot([0, 1], [0, 1], ls=":", c="grey", lw=1)
    ax_roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (tested pairs of each run)")
    ax_pr.set(xlabel="recall", ylabel="precision", title="PR (tested pairs of each run)", ylim=(0, 1.02))
    for ax in (ax_roc, ax_pr):
        ax.legend(fontsize=7, loc="lower right" if ax is ax_roc else "lower left")
    panel.run_ids = list(dict.fromkeys([*drawn, *(r.info.run_id for r in runs[:MAX_ROWS])]))
    _footer(fig, drawn)
    fig.tight_layout()
    panel.png = artifacts.save_figure(fig, out / "cv_runs.png")
    panel.note = (f"curves: the newest {len(drawn)} ad-hoc CV run(s), one per configuration; "
                  f"Pearson |r| and the gene prior of the newest on the same pairs")
    return panel


def search_panel(client: MlflowClient, out: Path) -> Panel:
    """The newest search: objective per trial (pruned trials marked), best so far, best params and
    the best trial's one evaluation on the outer test folds."""
    panel = Panel("search", "Hyperparameter search (newest Optuna study)")
    parents = search_all(client, "tags.kind = 'search'")
    if not parents:
        panel.note = "no runs: run python run.py search=optuna"
        return panel
    parent = parents[0]
    pid = parent.info.run_id
    experiment = parent.info.experiment_id
    children = tracking.with_retry(client.search_runs, [experiment], filter_string=f"tags.mlflow.parentRunId = '{pid}'",
                                   max_results=5000)
    trials = sorted((r for r in children if r.data.tags.get("kind") == "search-trial"),
                    key=lambda r: int(r.data.tags.get("trial_number", 0)))
    best_runs = [r for r in children if r.data.tags.get("kind") == "search-best" and r.info.status == "FINISHED"]
    panel.run_ids = [pid] + [r.info.run_id for r in trials] + [r.info.run_id for r in best_runs]
    metric = parent.data.tags.get("metric", "objective")
    direction = parent.data.tags.get("direction", "maximize")
    fig, ax = plt.subplots(figsize=(8, 4.2))
    done = [(int(r.data.tags["trial_number"]), r.data.metrics["objective"]) for r in trials
            if r.data.tags.get("state") == "COMPLETE" and "objective" in r.data.metrics]
    pruned = [(int(r.data.tags["trial_number"]), r.data.metrics.get(f"reported/{metric}", np.nan)) for r in trials
              if r.data.tags.get("state") == "PRUNED"]
    if done:
        xs, ys = zip(*done)
        ax.scatter(xs, ys, label="complete trial", color="tab:blue", zorder=3)
        best = (np.maximum if direction == "maximize" else np.minimum).accumulate(np.array(ys))
        ax.step(xs, best, where="post", color="tab:red", label="best so far")
    if pruned:
        xs, ys = zip(*pruned)
        ax.scatter(xs, ys, marker="x", color="grey", label="pruned (last reported epoch value)", zorder=3)
    test = {k[5:]: v for k, v in parent.data.metrics.items() if k.startswith("test/")}
    for name, color in (("auprc", "tab:green"), ("auroc", "tab:purple")):
        if name in test:
            ax.axhline(test[name], color=color, ls="--", lw=1, label=f"best config on outer test folds: {name} "
                                                                     f"{test[name]:.3f}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="trial", ylabel=f"{metric} (mean over outer training folds)",
           title=f"study {parent.data.tags.get('optuna_study')}: {len(done)} complete, {len(pruned)} pruned")
    ax.legend(fontsize=7)
    _footer(fig, panel.run_ids)
    panel.png = artifacts.save_figure(fig, out / "search_summary.png")
    best_params = {k[5:]: v for k, v in parent.data.tags.items() if k.startswith("best.")}
    rows = [{"item": f"best {k}", "value": v} for k, v in best_params.items()]
    rows += [{"item": f"best {metric} (inner validation)", "value": parent.data.metrics.get("best_value")}]
    rows += [{"item": f"outer test {k}", "value": v} for k, v in sorted(test.items())]
    rows += [{"item": "re-run command", "value": parent.data.tags.get("rerun_command", "")}]
    panel.tables.append(("best trial", pd.DataFrame(rows)))
    panel.note = (f"parent run {pid} ({parent.info.status}); {len(parents)} search(es) in the store, "
                  f"the newest shown")
    return panel


# ---------------------------------------------------------------------------- claim x data source
def verdict_matrix_panel(client: MlflowClient, out: Path) -> Panel:
    """The claim x data source matrix from every FINISHED study parent run in the store
    (:func:`verdict_records`, :func:`verdict_matrix`); ``verdict_matrix.csv`` holds its numbers."""
    panel = Panel("verdict_matrix", "Which verdict holds where: claim x data source")
    parents = search_all(client, "tags.kind = 'multirun' and attributes.status = 'FINISHED'")
    matrix, long = verdict_matrix(verdict_records(parents))
    if matrix.empty:
        panel.note = ("no runs: no study verdicts yet; run a study preset, e.g. python run.py -m experiment=fig4c_neighbors "
                      "[data=beeline data.path=DIR]")
        return panel
    fig = verdict_matrix_figure(matrix, long)
    panel.run_ids = list(dict.fromkeys(long["run_id"].astype(str)))
    _footer(fig, panel.run_ids)
    panel.png = artifacts.save_figure(fig, out / "verdict_matrix.png")
    artifacts.write_csv(long, out / "verdict_matrix.csv")
    panel.note = ("the newest FINISHED multirun of each (claim, data source); effects over seeds (studies) or "
                  "over TFs (fig3_real: per-TF DeepDRIM minus the other, averaged over seeds); numbers in "
                  "verdict_matrix.csv")
    panel.tables.append(("claim x data source", matrix))
    return panel


def fig3_panel(client: MlflowClient, out: Path, study: str, spec: dict) -> Panel:
    """A comparison study (``fig3_real``): the newest FINISHED parent's comparison figure and table
    (methods and controls, Wilcoxon p vs DeepDRIM) beside the paper's numbers, and its verdicts."""
    panel = Panel(study, spec.get("title", study))
    parents = [p for p in search_all(client, f"tags.kind = 'multirun' and tags.study = '{study}' "
                                             "and attributes.status = 'FINISHED'")]
    for parent in parents:
        with tempfile.TemporaryDirectory() as folder:
            png = _download(client, parent.info.run_id, "comparison.png", Path(folder))
            csv = _download(client, parent.info.run_id, "comparison.csv", Path(folder))
            if png is None or csv is None:
                continue
            data = png.read_bytes()
            panel.png = artifacts.atomic_write(out / f"{study}.png", lambda tmp: tmp.write_bytes(data))
            table = pd.read_csv(csv)
        keep = [c for c in ("label", "role", "median_auroc", "median_auprc", "auroc", "auprc", "p_auroc", "p_auprc",
                            "n_tfs", "run_id") if c in table]
        panel.tables.append(("comparison (median per-TF AUROC/AUPRC; Wilcoxon p vs DeepDRIM)", table[keep]))
        paper = spec.get("paper") or {}
        if paper:
            panel.tables.append(("the paper (average over its five BEELINE cell types)",
                                 pd.DataFrame({"paper": list(paper), "value": list(paper.values())})))
        panel.run_ids = [parent.info.run_id, *table.get("run_id", pd.Series(dtype=str)).astype(str)]
        panel.run_ids = list(dict.fromkeys(panel.run_ids))
        lines = [parent.data.tags.get("verdict_line", "")]
        panel.note = (f"multirun {parent.info.run_id[:8]} ({parent.info.run_name}) on "
                      f"{parent_data_label(parent.data.tags, study)}; {' '.join(lines)}")
        return panel
    panel.note = f"no runs: run python run.py -m experiment={study} data.path=DIR"
    return panel


# ---------------------------------------------------------------------------- HTML
def _img(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img alt="{html.escape(path.name)}" src="data:image/png;base64,{data}">'


def _paper_text() -> str:
    """The paper's reference values the report shows, from the presets and :data:`PAPER_MEDIAN`."""
    items = [f"{study} {key} {value:g}" if spec.get("kind") == "comparison" else f"{study} {key} {value:.1%}"
             for study, spec in figures.study_specs().items()
             for key, value in (spec.get("paper") or {}).items()]
    items += [f"median {k.upper()} {v} on its real data" for k, v in PAPER_MEDIAN.items()]
    return "; ".join(items)


def render_html(panels: list[Panel], uri: str, generated: str) -> str:
    """One self-contained page: every figure inline, the runs behind it under it."""
    parts = [f"""<!doctype html><html><head><meta charset="utf-8"><title>deepdrim-suite report</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}} img{{max-width:100%}}
table{{border-collapse:collapse;font-size:12px;margin:.5em 0}} td,th{{border:1px solid #ccc;padding:2px 6px}}
.runs{{font-family:monospace;font-size:11px;color:#555;word-break:break-all}} .none{{color:#a00}}</style></head><body>
<h1>deepdrim-suite report</h1><p>MLflow store <code>{html.escape(uri)}</code>, generated {html.escape(generated)}.
Values labelled <b>paper</b> are the DeepDRIM paper's numbers ({html.escape(_paper_text())}),
not results of these runs.</p>"""]
    rows = [p.verdict for p in panels if p.verdict]
    if rows:
        parts.append("<h2>Paper claims: measured verdicts</h2><p>Effect with its 95% t-interval over seeds; "
                     "supported / contradicted when the whole interval is on one side of the claim's threshold "
                     "(<code>figure.verdict</code> in each preset, <code>experiments/verdicts.py</code>).</p>"
                     + pd.DataFrame(rows).to_html(index=False, float_format=lambda v: f"{v:.4g}"))
    parts.append("<ul>" + "".join(f'<li><a href="#{p.key}">{html.escape(p.title)}</a>'
                                  f'{" - no runs" if p.png is None and not p.tables else ""}</li>' for p in panels) + "</ul>")
    for p in panels:
        parts.append(f'<h2 id="{p.key}">{html.escape(p.title)}</h2>')
        if p.png is None and not p.tables:
            parts.append(f'<p class="none">{html.escape(p.note or "no runs")}</p>')
            continue
        if p.png is not None:
            parts.append(_img(p.png))
        if p.note:
            parts.append(f"<p>{html.escape(p.note)}</p>")
        for caption, frame in p.tables:
            parts.append(f"<p><i>{html.escape(caption)}</i></p>" + frame.to_html(index=False, float_format=lambda v: f"{v:.4g}"))
        parts.append(f'<p class="runs">MLflow runs ({len(p.run_ids)}): {html.escape(" ".join(p.run_ids))}</p>')
    parts.append("</body></html>")
    return "\n".join(parts)


def panels_to_draw() -> list[tuple[str, Callable]]:
    """(key, make(client, out)) per report section: the claim x data source matrix, the CV runs (curves
    and table: any store with a job has them), every study preset with a ``figure``, then the
    method comparison and the newest search."""
    studies = [(study, (lambda s, f: lambda client, out: (fig3_panel if f.get("kind") == "comparison"
                                                          else study_panel)(client, out, s, f))(study, spec))
               for study, spec in figures.study_specs().items()]
    return [("verdict_matrix", verdict_matrix_panel), ("runs", runs_panel), *studies, ("comparison", comparison_panel),
            ("search", search_panel)]


def build(uri: str, output_dir: Path, log_run: bool = True,
          artifact_root: str = "mlflow/artifacts") -> tuple[Path, list[Panel]]:
    """Write report.html, the PNGs and sources.json into ``output_dir``; log them to a
    ``report`` run (:func:`tracking.run_job`) unless ``log_run`` is False. Returns the HTML path
    and the panels."""
    from omegaconf import OmegaConf

    client = open_store(uri)
    out = Path(output_dir)
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"  # no bar per downloaded CSV
    panels = []
    for key, make in panels_to_draw():
        try:
            panels.append(make(client, out))
        except Exception as error:  # noqa: BLE001 - one broken panel must not sink the report
            plt.close("all")
            panels.append(Panel(key, key, note=f"panel failed: {type(error).__name__}: {str(error)[:300]}"))
    generated = time.strftime("%Y-%m-%d %H:%M:%S")
    page = artifacts.write_text(render_html(panels, uri, generated), out / "report.html")
    sources = {p.key: {"title": p.title, "png": p.png.name if p.png else None, "runs": p.run_ids, "note": p.note}
               for p in panels}
    files = [page, artifacts.write_text(json.dumps(sources, indent=2), out / "sources.json")]
    rows = [p.verdict for p in panels if p.verdict]
    if rows:
        files.append(artifacts.write_csv(pd.DataFrame(rows), out / "verdicts.csv"))
    files += [p.png for p in panels if p.png is not None]
    if log_run:
        cfg = OmegaConf.create({"tracking": {"uri": uri, "artifact_root": artifact_root,
                                             "experiment": REPORT_EXPERIMENT, "run_name": f"report {generated}"}})
        metrics = {"n_panels_drawn": float(sum(p.png is not None for p in panels)),
                   "n_panels_empty": float(sum(p.png is None for p in panels))}
        tracking.run_job(cfg, out, "", "report", lambda: tracking.JobResult(metrics, files), resume=False,
                         params={}, tags={"kind": "report"})
    return page, panels


def _print(page: Path, panels: list[Panel]) -> None:
    for p in panels:
        state = f"{len(p.run_ids)} run(s)" if p.png is not None else (p.note or "no runs")
        print(f"  {p.key:22s} {state}")
    print(f"report: {page}")


def run(cfg, output_dir: Path, overrides: str = "") -> dict[str, float]:
    """The ``task=report`` job: the report of ``tracking.uri`` into the job's output folder."""
    page, panels = build(str(cfg.tracking.uri), Path(output_dir), artifact_root=str(cfg.tracking.artifact_root))
    _print(page, panels)
    return {"n_panels_drawn": float(sum(p.png is not None for p in panels)),
            "n_panels_empty": float(sum(p.png is None for p in panels))}
