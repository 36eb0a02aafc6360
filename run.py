"""The one entry point: ``python run.py`` (default job) or ``python run.py -m neighbors=0,2,10``.

Every input is checked before Hydra starts (:mod:`experiments.config.cli`): a bad one is one line and exit
status 2, with no output folder, MLflow run or cache file written (MLflow is not even imported).
In a multirun, a job whose data turns out bad fails alone: one line, a FAILED run under the
parent, the other jobs run, and the process exits 2 at the end. SIGTERM and Ctrl-C end the
running job's MLflow run KILLED, print one line and exit 143 / 130."""
from __future__ import annotations

import os
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

import hydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from experiments.config import cli  # noqa: E402 - light: experiments.tracking (MLflow) is imported after validation
from experiments.tasks import run_task  # noqa: E402 - the one dispatch over experiments/tasks/<name>.py

#: jobs of this process's multirun that failed on their input (each a FAILED run); exit 2 at the end
FAILED_JOBS: list = []


def run(cfg: DictConfig) -> dict:
    """Dispatch on ``task``; returns the job's metrics."""
    from pathlib import Path

    hydra_cfg = HydraConfig.get()
    output_dir = Path(hydra_cfg.runtime.output_dir)
    overrides = " ".join(hydra_cfg.overrides.task)
    return run_task(cfg.task, cfg, output_dir, overrides)


def check_presets(argv: list[str]) -> None:
    """Exit with one line (status 2) when ``experiment=`` names a preset that does not exist;
    Hydra's own message is a multi-line config-search dump."""
    from pathlib import Path

    known = sorted(p.stem for p in (Path(__file__).resolve().parent / "conf" / "experiment").glob("*.yaml"))
    for arg in argv:
        key, _, value = arg.partition("=")
        if key.lstrip("+~") != "experiment" or not value or value == "null":
            continue
        for name in value.split(","):
            if name not in known:
                print(f"error: unknown experiment preset {name!r}; existing: {', '.join(known)}", file=sys.stderr)
                sys.exit(2)


def _discard_unused(output_dir) -> None:
    """Remove a job folder holding only what Hydra wrote (``.hydra/``, the log): a job that
    refused its input leaves nothing behind."""
    import contextlib
    import re
    import shutil
    from pathlib import Path

    folder = Path(output_dir)
    if folder.is_dir() and all(p.name == ".hydra" or p.suffix == ".log" for p in folder.iterdir()):
        shutil.rmtree(folder, ignore_errors=True)
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", folder.parent.name):  # Hydra's date folder, when now empty
            with contextlib.suppress(OSError):
                folder.parent.rmdir()


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    from hydra.types import RunMode

    from experiments.tracking import job_runs

    job_runs.FAILED_RUN = None
    try:
        metrics = run(cfg)
    except Exception as error:
        if job_runs.INTERRUPTED:  # a signal surfacing as another error (inside TensorFlow)
            raise KeyboardInterrupt(job_runs.INTERRUPTED) from None
        if not isinstance(error, ValueError):
            raise
        # bad input found with the data: one line, no traceback
        message = str(error).splitlines()[0] if str(error) else repr(error)
        hydra_cfg = HydraConfig.get()
        _discard_unused(hydra_cfg.runtime.output_dir)
        if hydra_cfg.mode != RunMode.MULTIRUN:
            print(f"error: {message}", file=sys.stderr)
            sys.exit(2)
        # one job of a sweep: it fails alone (a FAILED run under the parent), the others run
        overrides = " ".join(hydra_cfg.overrides.task)
        run_id = job_runs.FAILED_RUN or job_runs.record_failed_job(cfg, overrides, cfg.task, message)
        print(f"error: job {hydra_cfg.job.num} ({job_runs.sweep_name(overrides) or 'default'}): {message}",
              file=sys.stderr)
        FAILED_JOBS.append(run_id)
        return float("nan")
    return float(metrics.get("auroc", float("nan")))


def _interrupt(signum, frame) -> None:
    """SIGINT (Ctrl-C) and SIGTERM (timeout, Slurm, Kubernetes, docker stop) unwind the job: its
    run ends KILLED. The flag is set first: the exception may surface as another error. Inside a
    store call the exception waits for the call to end (``mlflow_store.hold_signal``)."""
    from experiments.tracking import job_runs, mlflow_store

    job_runs.INTERRUPTED = signal.Signals(signum).name
    if mlflow_store.hold_signal(signum):
        return
    raise job_runs.Terminated(signum) if signum == signal.SIGTERM else KeyboardInterrupt()


def entry(argv: list[str]) -> None:
    """Validate, then run Hydra; a signal ends with one line and 128 + its number; a multirun in
    which a job failed on its input exits 2 after the others ran."""
    check_presets(argv)
    cli.validate_or_exit(argv)
    from experiments.tracking import job_runs

    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        main()
        job_runs.raise_if_interrupted()  # a signal whose exception was swallowed still ends the process
        if FAILED_JOBS:
            sys.exit(2)
    except KeyboardInterrupt:
        job_runs.INTERRUPTED = job_runs.INTERRUPTED or "SIGINT"
        signum = signal.Signals[job_runs.INTERRUPTED].value
        killed = f": run {job_runs.KILLED_RUN} marked KILLED" if job_runs.KILLED_RUN else ""
        print(f"interrupted by {job_runs.INTERRUPTED}{killed}", file=sys.stderr)
        sys.exit(128 + signum)


if __name__ == "__main__":
    entry(sys.argv[1:])
