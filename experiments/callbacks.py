"""Hydra callbacks: one parent MLflow run around a multirun, with every job nested under it."""
from __future__ import annotations

import os
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from experiments import tracking


class MLflowParentRun(Callback):
    """Opens a parent run at multirun start (its id passed to jobs through the environment) and
    closes it at the end: FINISHED, or FAILED when a job failed."""

    def __init__(self) -> None:
        self.run_id = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from mlflow.tracking import MlflowClient

        track = config.tracking
        experiment_id = tracking.setup(track.uri, track.artifact_root, track.experiment)
        overrides = " ".join(config.hydra.overrides.task)
        run = tracking.with_retry(
            MlflowClient().create_run, experiment_id,
            run_name=f"multirun: {overrides}" if overrides else "multirun",
            tags={"kind": "multirun", "hydra_overrides": overrides, "sweep_dir": str(config.hydra.sweep.dir)})
        self.run_id = run.info.run_id  # stays RUNNING until the sweep ends
        os.environ[tracking.PARENT_RUN_ENV] = self.run_id

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.run_id is None:
            return
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking.resolve_uri(config.tracking.uri))
        children = tracking.with_retry(
            client.search_runs, [client.get_run(self.run_id).info.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{self.run_id}'")
        failed = sum(run.info.status != "FINISHED" for run in children)
        from pathlib import Path

        from experiments.summaries import summarise

        tracking.with_retry(summarise, client, self.run_id, children, config, Path(config.hydra.sweep.dir))
        tracking.with_retry(client.set_tag, self.run_id, "jobs", f"{len(children) - failed} finished, {failed} not")
        tracking.with_retry(client.set_terminated, self.run_id, status="FAILED" if failed else "FINISHED")
        os.environ.pop(tracking.PARENT_RUN_ENV, None)
