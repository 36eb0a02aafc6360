"""``task=compare``: the newest multirun of the configured experiment that swept ``method=`` (or
``compare_parent=RUN_ID``) compared into a new ``compare`` run: the table, figure and, for the
fig3_real study, its verdicts (:mod:`experiments.reports.comparison`, :mod:`deepdrim.comparison`)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from deepdrim.comparison import paper_medians, table_metrics
from experiments.reports.comparison import PER_TF, fetch, fetch_controls, find_multirun, write_comparison

def run(cfg, output_dir: Path, overrides: str = "") -> dict[str, float]:
    """The ``task=compare`` job: compare the chosen multirun's methods into a new ``compare`` run."""
    from mlflow.tracking import MlflowClient

    from experiments.tracking import job_runs, mlflow_store

    store = mlflow_store.sqlite_path(cfg.tracking.uri)
    if store is not None and not store.is_file():  # do not create an empty store just to find nothing
        raise ValueError(f"no MLflow store at {store}; run a multirun first (or set tracking.uri)")
    experiment_id = mlflow_store.setup(cfg.tracking.uri, cfg.tracking.artifact_root, cfg.tracking.experiment)
    parent, children = find_multirun(MlflowClient(), experiment_id, cfg.get("compare_parent"))
    runs = fetch(children)
    if len(runs) < 2:  # before anything is written
        raise ValueError(f"multirun {parent.info.run_id}: fewer than 2 runs have a {PER_TF} artifact")
    runs += fetch_controls(runs)
    from experiments.reports import figures

    spec = figures.study_specs().get(parent.data.tags.get("study", ""))  # fig3_real: its paper values, verdicts
    spec = spec if spec and spec.get("kind") == "comparison" else None

    def compute() -> job_runs.JobResult:
        paths = write_comparison(runs, output_dir, paper=paper_medians(spec))
        metrics = table_metrics(pd.read_csv(paths[0]), ("median_auroc", "median_auprc", "epr", "p_auroc", "p_auprc"))
        tags = {}
        if spec is not None:
            from experiments.reports import fig3

            verdict_metrics, tags = fig3.verdict_outputs(runs, spec, parent.data.tags.get(fig3.DATA_TAG, ""))
            metrics.update(verdict_metrics)
        return job_runs.JobResult(metrics, paths, tags=tags)

    return job_runs.run_job(cfg, output_dir, overrides, "compare", compute, resume=False,
                            params={"compared_parent": parent.info.run_id},
                            tags={"compared_parent": parent.info.run_id},
                            default_name=f"compare: {parent.info.run_name or parent.info.run_id}")
