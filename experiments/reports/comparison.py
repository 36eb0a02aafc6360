"""DeepDRIM against the other methods of a multirun, read from MLflow: paired Wilcoxon signed-rank
tests over TFs (the table and claims: :mod:`deepdrim.comparison`), its files and figure
(:func:`deepdrim.plotting.comparison`).

:func:`compare_runs` is called by :mod:`experiments.reports.summaries` at the end of a multirun that
swept ``method=``; ``python run.py task=compare`` does the same for the newest such multirun of
the configured experiment (or ``compare_parent=RUN_ID``) and logs it to a new ``compare`` run.

For each run the per-TF AUROC/AUPRC table (its ``per_tf_metrics.csv`` artifact) is paired with
DeepDRIM's by TF, and :func:`deepdrim.stats.wilcoxon_p` (two-sided, scipy's defaults) gives the
p-value; all differences zero gives p = 1, no common TF gives NaN.
Runs of a sweep that differ in what decides the pairs and folds (e.g. ``seed=0,1``) are compared
within their own context; each is labelled by its method and its swept method-side values
(``DeepDRIM neighbors=0``, :mod:`experiments.reports.naming`), and a context's reference is its DeepDRIM
run with the most neighbors. CNNC is DeepDRIM with ``neighbors=0``.

Controls: every CV job's ``predictions.csv`` carries control scores of the same test pairs
(:data:`deepdrim.comparison.CONTROLS`: ``prior``, the gene prior; ``target_mean``, the target's mean
expression, when the job logged it); each control present gets a row of the table (``role`` =
"control"), tested against DeepDRIM like a method. A sweep that reused FINISHED runs (skipped jobs) is compared with
those runs too: the parent's ``study_runs.csv`` lists them (else its sweep folder is re-read).
"""
from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Optional

import pandas as pd
from mlflow.entities import Run

from deepdrim import plotting
from deepdrim.comparison import (DISPLAY, REFERENCE, MethodRun, comparison_table, control_runs, failed_folds_of,
                                 format_table)

log = logging.getLogger(__name__)
PER_TF = "per_tf_metrics.csv"
PREDICTIONS = "predictions.csv"


def _context(run: Run) -> str:
    """The run's overrides other than ``method=`` and where things are logged (runs without params)."""
    tokens = run.data.tags.get("hydra_overrides", "").split()
    return " ".join(sorted(t for t in tokens if not t.startswith(("method=", "tracking.", "hydra.", "paths."))))


def _label(method: str, run: Run) -> str:
    if method == REFERENCE:
        neighbors = run.data.params.get("neighbors")
        return "DeepDRIM" if neighbors not in ("0",) else "DeepDRIM (neighbors=0)"
    return DISPLAY.get(method, method)


def _names(runs: list[Run]) -> dict[str, tuple[str, str]]:
    """run id -> (label, context): by method and the swept values (:mod:`experiments.reports.naming`) when
    the runs logged their params, else from the override strings."""
    from experiments.reports import naming

    if all(run.data.params for run in runs):
        return naming.names(runs)
    return {run.info.run_id: (_label(naming.method_of(run), run), _context(run)) for run in runs}


@contextlib.contextmanager
def _quiet_downloads():
    """No MLflow download progress bars (one per run) on the console while fetching."""
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    before = os.environ.get(key)
    os.environ[key] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


def fetch(runs: list[Run]) -> list[MethodRun]:
    """Each run's per-TF table (downloaded artifact) and metrics; runs without one are skipped."""
    from mlflow.tracking import MlflowClient

    from experiments.reports import naming

    client = MlflowClient()
    kept = []
    with tempfile.TemporaryDirectory(prefix="compare.") as tmp, _quiet_downloads():
        for run in runs:
            method = run.data.tags.get("method") or run.data.params.get("method")
            if not method:
                continue
            try:
                local = client.download_artifacts(run.info.run_id, PER_TF, str(Path(tmp) / run.info.run_id))
                per_tf = pd.read_csv(local, dtype={"tf": str})
            except Exception as error:  # noqa: BLE001 - a run without the artifact is left out
                log.warning("run %s (%s) has no readable %s: left out (%s)", run.info.run_id, method, PER_TF,
                            str(error).splitlines()[0] if str(error) else type(error).__name__)
                continue
            failed = failed_folds_of(run.data.metrics)
            if failed:  # which TFs those folds tested (TF-aware and strict folds hold each TF once)
                try:
                    local = client.download_artifacts(run.info.run_id, PREDICTIONS, str(Path(tmp) / run.info.run_id))
                    predictions = pd.read_csv(local, usecols=["tf", "fold"], dtype={"tf": str})
                    failed = frozenset(predictions.loc[predictions["fold"].isin(failed), "tf"])
                except Exception as error:  # noqa: BLE001 - then every TF of the run counts as failed
                    log.warning("run %s has no readable %s: all its TFs counted as failed (%s)", run.info.run_id,
                                PREDICTIONS, str(error).splitlines()[0] if str(error) else type(error).__name__)
                    failed = frozenset(per_tf["tf"])
            kept.append((run, method, per_tf, frozenset(failed)))
    named = _names([run for run, *_ in kept])
    rank = {run.info.run_id: naming.reference_rank(run) for run, *_ in kept}
    fetched = [MethodRun(run.info.run_id, method, *named[run.info.run_id], dict(run.data.metrics), per_tf,
                         failed_tfs=failed) for run, method, per_tf, failed in kept]
    if len({r.context for r in fetched}) > 1:  # say which context a row belongs to
        for r in fetched:
            r.label = f"{r.label} [{r.context}]" if r.context else r.label
    order = {m: i for i, m in enumerate(DISPLAY)}  # a context's reference (DeepDRIM, most neighbors) first
    return sorted(fetched, key=lambda r: (r.context, order.get(r.method, len(order)), rank[r.run_id], r.label))


def compare_runs(finished_runs: list[Run], out_dir: Path, paper: Optional[dict] = None) -> list[Path]:
    """Write ``comparison.csv``, ``comparison_per_tf.csv`` and ``comparison.png`` for the runs and
    their controls (atomically, into ``out_dir``) and return their paths; nothing when fewer than 2
    runs have a per-TF table. ``paper``: the paper's DeepDRIM medians drawn on the figure."""
    runs = fetch(finished_runs)
    if len(runs) < 2:
        log.warning("comparison skipped: %d run(s) with a %s", len(runs), PER_TF)
        return []
    return write_comparison(runs + fetch_controls(runs), out_dir, paper)


def fetch_controls(runs: list[MethodRun]) -> list[MethodRun]:
    """The controls of each context, from the ``predictions.csv`` of its DeepDRIM run (else of its
    first supervised run, else its first run): every job of a context scores the same pairs on the
    same folds, so one job's control columns stand for all."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    rank = {REFERENCE: 0, "cnnc": 1}
    chosen: dict[str, MethodRun] = {}
    for r in sorted(runs, key=lambda r: rank.get(r.method, 2)):
        if r.role == "method":
            chosen.setdefault(r.context, r)
    out = []
    with tempfile.TemporaryDirectory(prefix="compare.") as tmp, _quiet_downloads():
        for context, source in chosen.items():
            try:
                local = client.download_artifacts(source.run_id, PREDICTIONS, str(Path(tmp) / source.run_id))
                predictions = pd.read_csv(local, dtype={"tf": str, "target": str})
            except Exception as error:  # noqa: BLE001 - no controls for that context, said once
                log.warning("run %s has no readable %s: no control rows for context %r (%s)", source.run_id,
                            PREDICTIONS, context, str(error).splitlines()[0] if str(error) else type(error).__name__)
                continue
            out += control_runs(predictions, source)
    return out


def write_comparison(runs: list[MethodRun], out_dir: Path, paper: Optional[dict] = None) -> list[Path]:
    """The comparison files of fetched runs (controls included), written atomically into ``out_dir``."""
    from deepdrim.files import save_figure, write_csv

    if not any(r.method == REFERENCE for r in runs):
        log.warning("no DeepDRIM run among the compared methods: p-values are NaN")
    table = comparison_table(runs)
    per_tf = pd.concat([r.per_tf.assign(method=r.method, label=r.label, context=r.context, run_id=r.run_id)
                        for r in runs], ignore_index=True)
    out_dir = Path(out_dir)
    paths = [write_csv(table, out_dir / "comparison.csv"), write_csv(per_tf, out_dir / "comparison_per_tf.csv"),
             save_figure(plotting.comparison(runs, table, paper=paper), out_dir / "comparison.png")]
    print(format_table(table))
    return paths


# ---------------------------------------------------------------------------------------------- task=compare


def _methods(runs: list[Run]) -> set:
    return {r.data.tags.get("method") for r in runs if r.data.tags.get("method")}


def with_reused(client, parent: Run, finished: list[Run]) -> list[Run]:
    """``finished`` (a multirun's FINISHED children) plus the FINISHED runs its sweep reused
    (jobs skipped because their configuration had FINISHED before): those the parent listed in its
    ``study_runs.csv``, else those :func:`experiments.tracking.callbacks.sweep_runs` finds from the parent's
    ``sweep_dir`` tag (the sweep folder's job configs), when that folder still exists."""
    from experiments.reports.summaries import STUDY_RUNS
    from experiments.tracking import mlflow_store

    have = {r.info.run_id for r in finished}
    with tempfile.TemporaryDirectory(prefix="compare.") as tmp, _quiet_downloads():
        try:
            listed = pd.read_csv(client.download_artifacts(parent.info.run_id, STUDY_RUNS, tmp))["run_id"].astype(str)
        except Exception:  # noqa: BLE001 - a parent from before the list, or an ad-hoc sweep's
            listed = None
    if listed is not None:
        extra = [mlflow_store.finished_by_id(client, run_id) for run_id in listed if run_id not in have]
        return [*finished, *(run for run in extra if run is not None)]
    sweep_dir = parent.data.tags.get("sweep_dir")
    if not sweep_dir or not Path(sweep_dir).is_dir():
        return finished
    from experiments.tracking.callbacks import sweep_runs

    return sweep_runs(client, parent.info.experiment_id, Path(sweep_dir), finished,
                      since=parent.info.start_time / 1000.0 - 1.0)


def find_multirun(client, experiment_id: str, parent_id=None) -> tuple[Run, list[Run]]:
    """The multirun parent to compare (``parent_id``, else the newest with FINISHED children of
    more than one method) and those children; one-line error when there is none."""
    from experiments.tracking import mlflow_store

    if parent_id:
        try:
            parents = [mlflow_store.with_retry(client.get_run, str(parent_id))]
        except Exception:  # noqa: BLE001 - MLflow raises its own type for an unknown id
            raise ValueError(f"compare_parent={parent_id}: no such run") from None
    else:
        parents = mlflow_store.with_retry(client.search_runs, [experiment_id], filter_string="tags.kind = 'multirun'",
                                      order_by=["attributes.start_time DESC"], max_results=200)
    for parent in parents:
        children = mlflow_store.with_retry(client.search_runs, [parent.info.experiment_id],
                                       filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
        finished = with_reused(client, parent, [r for r in children if r.info.status == "FINISHED"])
        if len(_methods(finished)) > 1:
            return parent, finished
    if parent_id:
        raise ValueError(f"run {parent_id} has no FINISHED child runs of more than one method")
    raise ValueError("no multirun with more than one method in this experiment; run e.g. "
                     "`python run.py -m method=deepdrim,cnnc,pcc` first")
