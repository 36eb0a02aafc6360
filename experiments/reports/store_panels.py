"""The report's panels of what else the store holds: every CV run (curves and table), the newest
ad-hoc method comparison and the newest hyperparameter search."""
from __future__ import annotations

import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from deepdrim.comparison import DISPLAY, comparison_table
from deepdrim import plotting
from deepdrim.files import save_figure
from experiments.tracking import mlflow_store
from experiments.reports import comparison
from experiments.reports.report_panels import (PAPER_MEDIAN, Panel, child_runs, download_artifact, is_adhoc,
                                               newest_per_config, run_ids_footer, search_all)


def comparison_runs(client: MlflowClient) -> tuple[list, list, str]:
    """(fetched :class:`deepdrim.comparison.MethodRun` s, run ids, source) of the newest ad-hoc multirun (never a
    study's) whose FINISHED CV jobs hold two or more method labels: compared within each context
    (same data, seed and folds), labelled by method and swept values (:mod:`experiments.reports.naming`).
    Without one, the newest ad-hoc single CV jobs that share their folds (one per label)."""
    import mlflow

    from experiments.reports import naming

    mlflow.set_tracking_uri(client.tracking_uri)  # comparison.fetch uses the default client
    for parent in [p for p in search_all(client, "tags.kind = 'multirun'") if is_adhoc(p)][:50]:
        children = child_runs(client, parent)
        if len({naming.names(children)[r.info.run_id][0] for r in children}) < 2:
            continue
        fetched = comparison.fetch(children)
        if len({r.label for r in fetched}) > 1:
            return fetched, [parent.info.run_id, *(r.run_id for r in fetched)], (
                f"recomputed from multirun {parent.info.run_id[:8]}: its {len(fetched)} "
                f"CV jobs, compared within each fold context")
    singles = [r for r in search_all(client, "tags.task = 'cv' and attributes.status = 'FINISHED'")
               if is_adhoc(r) and r.data.tags.get("method") and "mlflow.parentRunId" not in r.data.tags]
    group = naming.newest_comparable(singles)
    if group:
        fetched = comparison.fetch(group)
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
    table = comparison_table(runs)
    fig = plotting.comparison(runs, table, paper=PAPER_MEDIAN)
    fig.suptitle("\n".join(textwrap.wrap(f"Method comparison ({source}); two-sided Wilcoxon signed-rank p vs "
                                         "DeepDRIM, paired by TF", 110)), fontsize=9)
    run_ids_footer(fig, panel.run_ids)
    panel.png = save_figure(fig, out / "method_comparison.png")
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
    from experiments.reports import naming

    panel = Panel("runs", "Cross-validation runs: ROC / PR curves and the runs table")
    runs = [r for r in search_all(client, "tags.task = 'cv' and attributes.status = 'FINISHED'")
            if "auroc" in r.data.metrics]
    if not runs:
        panel.note = "no runs: run python run.py"
        return panel
    rows = [{"run": r.info.run_name, "study": r.data.tags.get("study", "adhoc"),
             "method": DISPLAY.get(naming.method_of(r), naming.method_of(r)),
             "neighbors": r.data.params.get("neighbors"), "seed": r.data.params.get("seed"),
             **{shown: r.data.metrics.get(key, float("nan")) for key, shown in RUN_COLUMNS},
             "trust": r.data.tags.get("trust", ""), "run_id": r.info.run_id} for r in runs[:MAX_ROWS]]
    panel.tables.append((f"FINISHED CV runs, newest first ({min(len(runs), MAX_ROWS)} of {len(runs)})",
                         pd.DataFrame(rows)))
    drawn, curves = [], []
    with tempfile.TemporaryDirectory(prefix="report.") as tmp:
        for run in newest_per_config([r for r in runs if is_adhoc(r)]):
            if len(drawn) == MAX_CURVES:
                break
            local = download_artifact(client, run.info.run_id, "predictions.csv", Path(tmp) / run.info.run_id)
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
                if part["label"].nunique() >= 2:
                    curves.append((name, part["label"], part[column], style))
            drawn.append(run.info.run_id)
    if not drawn:
        panel.note = "no ad-hoc CV run with predictions.csv to draw curves from; the runs table lists every CV run"
        panel.run_ids = [r.info.run_id for r in runs[:MAX_ROWS]]
        return panel
    panel.run_ids = list(dict.fromkeys([*drawn, *(r.info.run_id for r in runs[:MAX_ROWS])]))
    fig = plotting.roc_pr_panel(curves, "tested pairs of each run")
    run_ids_footer(fig, drawn)
    panel.png = save_figure(fig, out / "cv_runs.png")
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
    children = mlflow_store.with_retry(client.search_runs, [experiment], filter_string=f"tags.mlflow.parentRunId = '{pid}'",
                                   max_results=5000)
    trials = sorted((r for r in children if r.data.tags.get("kind") == "search-trial"),
                    key=lambda r: int(r.data.tags.get("trial_number", 0)))
    best_runs = [r for r in children if r.data.tags.get("kind") == "search-best" and r.info.status == "FINISHED"]
    panel.run_ids = [pid] + [r.info.run_id for r in trials] + [r.info.run_id for r in best_runs]
    metric = parent.data.tags.get("metric", "objective")
    direction = parent.data.tags.get("direction", "maximize")
    trials_table = pd.DataFrame(
        [{"trial": int(r.data.tags["trial_number"]), "state": "COMPLETE", "value": r.data.metrics["objective"]}
         for r in trials if r.data.tags.get("state") == "COMPLETE" and "objective" in r.data.metrics]
        + [{"trial": int(r.data.tags["trial_number"]), "state": "PRUNED",
            "value": r.data.metrics.get(f"reported/{metric}", np.nan)} for r in trials
           if r.data.tags.get("state") == "PRUNED"], columns=["trial", "state", "value"])
    n_done, n_pruned = (int((trials_table.state == state).sum()) for state in ("COMPLETE", "PRUNED"))
    test = {k[5:]: v for k, v in parent.data.metrics.items() if k.startswith("test/")}
    fig = plotting.search_history(
        trials_table, maximize=direction == "maximize", ylabel=f"{metric} (mean over outer training folds)",
        title=f"study {parent.data.tags.get('optuna_study')}: {n_done} complete, {n_pruned} pruned", test=test)
    run_ids_footer(fig, panel.run_ids)
    panel.png = save_figure(fig, out / "search_summary.png")
    best_params = {k[5:]: v for k, v in parent.data.tags.items() if k.startswith("best.")}
    rows = [{"item": f"best {k}", "value": v} for k, v in best_params.items()]
    rows += [{"item": f"best {metric} (inner validation)", "value": parent.data.metrics.get("best_value")}]
    rows += [{"item": f"outer test {k}", "value": v} for k, v in sorted(test.items())]
    rows += [{"item": "re-run command", "value": parent.data.tags.get("rerun_command", "")}]
    panel.tables.append(("best trial", pd.DataFrame(rows)))
    panel.note = (f"parent run {pid} ({parent.info.status}); {len(parents)} search(es) in the store, "
                  f"the newest shown")
    return panel
