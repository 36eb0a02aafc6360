"""The report's panels of the studies, each drawn from the MLflow store (never re-running anything):
the study figures (Fig. 1B, Fig. 4 A-D) with their verdict rows, the fig3_real comparison and the
claim x data source matrix; and the store helpers every panel uses. A panel without runs says so
instead of failing."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pandas as pd
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from deepdrim import plotting
from deepdrim.verdicts import verdict_matrix
from deepdrim.files import atomic_write, save_figure, write_csv
from experiments.tracking import job_runs, mlflow_store
from experiments.reports import figures
from experiments.reports.verdict_matrix import parent_data_label, verdict_records

PAPER_MEDIAN = {"auroc": 0.789, "auprc": 0.809}  # headline DeepDRIM medians on the paper's real data


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
    path = mlflow_store.sqlite_path(uri)
    if path is not None and not path.is_file():
        raise ValueError(f"no MLflow store at {path}: run some jobs first (python run.py) or set tracking.uri")
    client = MlflowClient(mlflow_store.resolve_uri(uri))
    experiments = [e.experiment_id for e in mlflow_store.with_retry(client.search_experiments)]
    if not experiments or not mlflow_store.with_retry(client.search_runs, experiments, max_results=1):
        raise ValueError(f"the MLflow store {uri} has no runs: run some jobs first (python run.py)")
    return client


def search_all(client: MlflowClient, filter_string: str) -> list[Run]:
    """Every run of every active experiment matching the filter, newest first."""
    experiments = [e.experiment_id for e in mlflow_store.with_retry(client.search_experiments)]
    runs, token = [], None
    while True:
        page = mlflow_store.with_retry(client.search_runs, experiments, filter_string=filter_string,
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
        key = run.data.tags.get(job_runs.HASH_TAG) or run.info.run_id
        if key not in seen:
            seen.add(key)
            kept.append(run)
    return kept


# ---------------------------------------------------------------------------- drawing helpers
def run_ids_footer(fig, run_ids: list) -> None:
    """Name the runs a figure came from at its bottom (short ids; full ids in the HTML)."""
    plotting.footnote(fig, f"MLflow runs ({len(run_ids)}): " + " ".join(r[:8] for r in run_ids))


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


# ---------------------------------------------------------------------------- panels
def study_panel(client: MlflowClient, out: Path, study: str, spec: dict) -> Panel:
    """A study's figure (``experiments.reports.figures``, as the multirun summary draws it) from the runs its
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
                                      "DeepDRIM and Pearson" if spec.get("kind") not in ("ggm", "direction") else "")
    panel.tables.append(("mean and 95% CI over seeds", table))
    panel.verdict = verdict_row(study, plotted, spec, split)
    return panel


def study_runs(client: MlflowClient, study: str, runs: list[Run]) -> tuple[list[Run], str]:
    """The runs a study panel draws, and where they came from: those of the newest FINISHED multirun
    of the study that listed them (its ``study_runs.csv``, so variants of a study in one store, e.g.
    another scale or ``model.neighbor_values``, never mix); else the newest run per configuration."""
    from experiments.reports.summaries import STUDY_RUNS

    by_id = {run.info.run_id: run for run in runs}
    parents = search_all(client, f"tags.kind = 'multirun' and tags.study = '{study}' and attributes.status = 'FINISHED'")
    for parent in parents:
        with tempfile.TemporaryDirectory() as folder:
            listed = download_artifact(client, parent.info.run_id, STUDY_RUNS, Path(folder))
            ids = None if listed is None else pd.read_csv(listed)["run_id"].astype(str)
        if ids is None:
            continue
        chosen = [run for run in (by_id.get(i) or mlflow_store.finished_by_id(client, i) for i in ids) if run is not None]
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
    """The study's claim and measured verdict (:mod:`deepdrim.verdicts`) as one table row."""
    from deepdrim.verdicts import study_verdict
    from experiments.reports.figures import run_table

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


def download_artifact(client: MlflowClient, run_id: str, path: str, into: Path) -> Optional[Path]:
    try:
        return Path(client.download_artifacts(run_id, path, str(into)))
    except Exception:  # noqa: BLE001 - a run without that artifact
        return None


def child_runs(client: MlflowClient, parent: Run) -> list[Run]:
    """A multirun parent's FINISHED cross-validation jobs."""
    return [run for run in mlflow_store.with_retry(
        client.search_runs, [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}' and attributes.status = 'FINISHED'",
        max_results=5000) if run.data.tags.get("task", "cv") == "cv" and run.data.tags.get("method")]


def is_adhoc(run: Run) -> bool:
    """A run of no study (studies have their own panels; their runs never enter the comparison)."""
    return run.data.tags.get("study", "adhoc") in ("adhoc", "", "None")




# ---------------------------------------------------------------------------- claim x data source
def verdict_matrix_panel(client: MlflowClient, out: Path) -> Panel:
    """The claim x data source matrix from every FINISHED study parent run in the store
    (:func:`verdict_records`, :func:`deepdrim.verdicts.verdict_matrix`); ``verdict_matrix.csv`` holds its numbers."""
    panel = Panel("verdict_matrix", "Which verdict holds where: claim x data source")
    parents = search_all(client, "tags.kind = 'multirun' and attributes.status = 'FINISHED'")
    matrix, long = verdict_matrix(verdict_records(parents))
    if matrix.empty:
        panel.note = ("no runs: no study verdicts yet; run a study preset, e.g. python run.py -m experiment=fig4c_neighbors "
                      "[data=beeline data.path=DIR]")
        return panel
    fig = plotting.verdict_matrix(matrix, long)
    panel.run_ids = list(dict.fromkeys(long["run_id"].astype(str)))
    run_ids_footer(fig, panel.run_ids)
    panel.png = save_figure(fig, out / "verdict_matrix.png")
    write_csv(long, out / "verdict_matrix.csv")
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
            png = download_artifact(client, parent.info.run_id, "comparison.png", Path(folder))
            csv = download_artifact(client, parent.info.run_id, "comparison.csv", Path(folder))
            if png is None or csv is None:
                continue
            data = png.read_bytes()
            panel.png = atomic_write(out / f"{study}.png", lambda tmp: tmp.write_bytes(data))
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
