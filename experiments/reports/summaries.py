"""What a finished multirun adds to its parent MLflow run: the method comparison when the
sweep compared methods, the study's figure when it ran a study preset."""
from __future__ import annotations

from pathlib import Path

from mlflow.entities import Run
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig


def record_verdict(client: MlflowClient, parent_run_id: str, runs: list[Run], spec, label: str = "") -> None:
    """The study's claim and measured verdict (``spec["verdict"]``, :mod:`deepdrim.verdicts`) as
    ``verdict/*`` metrics and ``verdict``/``verdict_line``/``claim`` tags on the parent run, printed;
    the line names the data source ``label`` (``[beeline:mDC-specific-500] Fig. 4C: ...``)."""
    import math

    from deepdrim.verdicts import study_verdict
    from experiments.reports.figures import run_table

    if not spec or not spec.get("verdict"):
        return
    table = run_table(runs, spec["verdict"], spec)
    if table.empty:
        return
    try:
        verdict = study_verdict(table, spec["verdict"])
    except ValueError as error:  # a bad verdict block must not lose the figure
        print(f"verdict: not computed ({error})")
        return
    if label:
        verdict.line = f"[{label}] {verdict.line}"
    from experiments.reports.figures import failed_runs

    failed = failed_runs(runs)
    if failed:  # kept in the means (a setting where the model learns nothing is a result of the study)
        verdict.line += (f" ({len(failed)} of {len(runs)} runs FAILED to learn: counted at their AUROC, "
                         "marked x in the figure)")
    print(f"verdict: {verdict.line}")
    for key, value in verdict.metrics().items():
        if math.isfinite(value):
            client.log_metric(parent_run_id, key, value)
    for key, value in verdict.tags().items():
        client.set_tag(parent_run_id, key, value[:5000])


#: the parent's list of the runs its figure and verdict used (``task=report`` draws a study from it)
STUDY_RUNS = "study_runs.csv"


def write_study_runs(runs: list[Run], out_dir: Path) -> Path:
    """``study_runs.csv`` in ``out_dir``: run id, config hash, name and study of each run the study's
    figure and verdict came from (this sweep's jobs and the FINISHED runs it reused, another study's
    where they shared the computation), written atomically."""
    import pandas as pd

    from experiments.tracking import job_runs
    from deepdrim.files import write_csv

    table = pd.DataFrame({"run_id": [r.info.run_id for r in runs],
                          "config_hash": [r.data.tags.get(job_runs.HASH_TAG, "") for r in runs],
                          "run_name": [r.info.run_name for r in runs],
                          "study": [r.data.tags.get("study", "adhoc") for r in runs]})
    return write_csv(table, Path(out_dir) / STUDY_RUNS)


def summarise(client: MlflowClient, parent_run_id: str, children: list[Run], config: DictConfig,
              out_dir: Path) -> list[Path]:
    """Write the summaries into ``out_dir``, log them on the parent run, return their paths."""
    from omegaconf import OmegaConf

    from experiments.reports.fig3 import DATA_TAG, config_data_label

    finished = [run for run in children if run.info.status == "FINISHED"]
    written: list[Path] = []
    label = config_data_label(config)
    client.set_tag(parent_run_id, DATA_TAG, label)  # which data source the figure and verdict are about
    spec = OmegaConf.to_container(config.figure) if config.get("study") and config.get("figure") is not None else None
    compared = len({run.data.tags.get("method") for run in finished}) > 1
    if spec is not None and spec.get("kind") == "comparison":  # fig3_real: the comparison is the study
        from experiments.reports import fig3

        written += fig3.summarise(client, parent_run_id, finished, spec, out_dir, label)
        written.append(write_study_runs(finished, out_dir))
    elif compared:
        from experiments.reports.comparison import compare_runs

        written += compare_runs(finished, out_dir)
        written.append(write_study_runs(finished, out_dir))  # task=compare finds the reused runs in it
    if config.get("study") and (spec is None or spec.get("kind") != "comparison"):
        from experiments.reports.figures import study_figure

        written += study_figure(finished, str(config.study), out_dir, spec)
        if not compared:
            written.append(write_study_runs(finished, out_dir))
        record_verdict(client, parent_run_id, finished, spec, label)
    for path in written:
        client.log_artifact(parent_run_id, str(path))
    return written
