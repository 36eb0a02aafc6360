"""Hydra callbacks: one parent MLflow run around a multirun, with every job nested under it.

Every job of the sweep was checked before Hydra started (``run.py``: :func:`experiments.config.cli.validate`).
A parent left RUNNING by a killed multirun (its process gone) is marked KILLED, with its RUNNING
jobs, when the next multirun of the experiment starts. At the end the study figure covers every
configuration of the sweep, including those skipped because an earlier run of the same configuration FINISHED.
"""
from __future__ import annotations

import atexit
import logging
import os
import time
from pathlib import Path
from typing import Any, Optional

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from experiments.tracking import job_runs, mlflow_store

log = logging.getLogger(__name__)


def swept_keys(config: DictConfig) -> list[str]:
    """The keys the multirun sweeps (command line and preset ``hydra.sweeper.params``), in order."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    lines = [f"{k}={v}" for k, v in (config.hydra.sweeper.get("params") or {}).items()]
    lines += list(config.hydra.overrides.task)
    keys: list[str] = []
    for override in OverridesParser.create().parse_overrides(lines):
        if override.is_sweep_override() and override.key_or_group not in keys:
            keys.append(override.key_or_group)
    return keys


def close_dead_parents(client, experiment_id: str) -> int:
    """Mark RUNNING multirun parents whose process (this host) is gone as KILLED, with their RUNNING jobs."""
    parents = mlflow_store.with_retry(client.search_runs, [experiment_id],
                                  filter_string="tags.kind = 'multirun' and attributes.status = 'RUNNING'")
    closed = 0
    for parent in parents:
        if not job_runs.process_gone(parent.data.tags):  # alive, or not provably gone (another host)
            continue
        jobs = mlflow_store.with_retry(client.search_runs, [experiment_id], filter_string=(
            f"tags.mlflow.parentRunId = '{parent.info.run_id}' and attributes.status = 'RUNNING'"))
        for run in [*jobs, parent]:
            mlflow_store.with_retry(client.set_tag, run.info.run_id, "error",
                                "process ended without closing the run (killed)")
            mlflow_store.with_retry(client.set_terminated, run.info.run_id, status="KILLED")
        closed += 1
    return closed


def _job_hashes(path: Path) -> Optional[tuple[str, str]]:
    """Config hash and compute hash of a job from its saved ``.hydra/config.yaml`` (what the job computed)."""
    try:
        resolved = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
        return job_runs.config_hash(resolved), job_runs.compute_hash(resolved)
    except Exception:  # noqa: BLE001 - unreadable or unresolvable: that job is just not reused
        return None


def sweep_runs(client, experiment_id: str, sweep_dir: Path, children: list, since: float = 0.0) -> list:
    """The children plus, for every job of this sweep without a FINISHED child (skipped because
    an earlier run of its configuration FINISHED), that newest earlier FINISHED run: of the same
    configuration in this experiment, else of the same computation in any experiment of the store
    (another study's run of it). The sweep's jobs are the ``<sweep_dir>/*/.hydra/config.yaml``
    Hydra wrote since ``since`` (epoch seconds), so a reused sweep folder's older job folders do not count."""
    saved = [p for p in Path(sweep_dir).glob("*/.hydra/config.yaml") if p.stat().st_mtime >= since]
    hashes = dict(h for h in (_job_hashes(p) for p in saved) if h)  # config hash -> compute hash
    have = {run.data.tags.get(job_runs.HASH_TAG) for run in children if run.info.status == "FINISHED"}
    missing = set(hashes) - have
    if not missing:
        return list(children)
    earlier = mlflow_store.with_retry(client.search_runs, [experiment_id],
                                  filter_string="attributes.status = 'FINISHED'",
                                  order_by=["attributes.start_time DESC"], max_results=50000)
    reused: dict[str, Any] = {}
    for run in earlier:
        chash = run.data.tags.get(job_runs.HASH_TAG)
        if chash in missing and chash not in reused:
            reused[chash] = run
    shared = job_runs.same_computation(client, {hashes[h] for h in missing - set(reused)})
    reused.update({h: shared[hashes[h]] for h in missing - set(reused) if hashes[h] in shared})
    return list({run.info.run_id: run for run in [*children, *reused.values()]}.values())


class MLflowParentRun(Callback):
    """Opens a parent run at multirun start (its id passed to jobs through the environment, which
    joblib's worker processes inherit) and closes it at the end: FINISHED, or FAILED when a job
    failed; KILLED/FAILED (or deleted when no job logged a run) if the process exits mid-sweep."""

    def __init__(self) -> None:
        self.run_id: Optional[str] = None
        self.uri: Optional[str] = None
        self.started = 0.0

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from mlflow.tracking import MlflowClient

        track = config.tracking
        experiment_id = mlflow_store.setup(track.uri, track.artifact_root, track.experiment)
        self.uri = mlflow_store.resolve_uri(track.uri)
        client = MlflowClient(self.uri)
        close_dead_parents(client, experiment_id)
        overrides = " ".join(config.hydra.overrides.task)
        swept = swept_keys(config)
        os.environ[job_runs.SWEPT_ENV] = ",".join(swept)  # children are named by these keys' values
        # named by its sweep (and preset): "multirun: neighbors=0,2,10 seed=0,1"; the tags keep every override
        shown = " ".join(o for o in config.hydra.overrides.task
                         if o.split("=", 1)[0].lstrip("+~") in (*swept, "experiment")) or \
            job_runs.sweep_name(overrides, swept="")
        run = mlflow_store.with_retry(
            client.create_run, experiment_id,
            run_name=f"multirun: {shown}" if shown else "multirun",
            tags={"kind": "multirun", "hydra_overrides": overrides, "sweep_dir": str(config.hydra.sweep.dir),
                  "study": str(config.get("study") or "adhoc"), **job_runs.process_tags()})
        self.started = time.time() - 1.0
        self.run_id = run.info.run_id  # stays RUNNING until the sweep ends
        os.environ[job_runs.PARENT_RUN_ENV] = self.run_id
        atexit.register(self._abandoned)

    def _abandoned(self) -> None:
        """At interpreter exit without ``on_multirun_end`` (a job's bad input, Ctrl-C, a crash):
        delete the parent when no job logged a run, else mark it FAILED."""
        if self.run_id is None:
            return
        from mlflow.tracking import MlflowClient

        run_id, self.run_id = self.run_id, None
        try:
            client = MlflowClient(self.uri)
            if not self._children_of(client, run_id):
                mlflow_store.with_retry(client.delete_run, run_id)
            else:  # a signal ends it KILLED (like its interrupted job), anything else FAILED
                why = f"interrupted ({job_runs.INTERRUPTED})" if job_runs.INTERRUPTED else "multirun ended before all jobs ran"
                mlflow_store.with_retry(client.set_tag, run_id, "error", why)
                mlflow_store.with_retry(client.set_terminated, run_id,
                                    status="KILLED" if job_runs.INTERRUPTED else "FAILED")
        except Exception as error:  # noqa: BLE001 - exiting anyway; the next start closes it
            log.warning("could not close the multirun's parent run %s: %s", run_id, error)

    @staticmethod
    def _children_of(client, run_id: str) -> list:
        experiment_id = client.get_run(run_id).info.experiment_id
        return mlflow_store.with_retry(client.search_runs, [experiment_id],
                                   filter_string=f"tags.mlflow.parentRunId = '{run_id}'")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.run_id is None:
            return
        from mlflow.tracking import MlflowClient

        from experiments.reports.summaries import summarise

        run_id, self.run_id = self.run_id, None
        client = MlflowClient(mlflow_store.resolve_uri(config.tracking.uri))
        status = "FAILED"
        try:
            children = self._children_of(client, run_id)
            failed = sum(run.info.status != "FINISHED" for run in children)
            experiment_id = client.get_run(run_id).info.experiment_id
            sweep_dir = Path(config.hydra.sweep.dir)
            runs = sweep_runs(client, experiment_id, sweep_dir, children, self.started)
            states = [run.info.status for run in children]
            count = (f"{states.count('FINISHED')} finished, {states.count('FAILED')} failed"
                     + (f", {failed - states.count('FAILED')} killed" if failed > states.count("FAILED") else "")
                     + f", {len(runs) - len(children)} reused from earlier runs")
            mlflow_store.with_retry(client.set_tag, run_id, "jobs", count)
            print(f"multirun {run_id}: {count}")
            mlflow_store.with_retry(summarise, client, run_id, runs, config, sweep_dir)
            status = "FAILED" if failed else "FINISHED"
        except Exception as error:
            mlflow_store.with_retry(client.set_tag, run_id, "error", f"{type(error).__name__}: {error}"[:5000])
            raise
        finally:
            mlflow_store.with_retry(client.set_terminated, run_id, status=status)
            os.environ.pop(job_runs.PARENT_RUN_ENV, None)
            os.environ.pop(job_runs.SWEPT_ENV, None)
