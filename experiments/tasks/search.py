"""``task=search``: an Optuna search of DeepDRIM's hyperparameters, tracked in MLflow.

Objective (nested split, the outer test folds are never seen): for each TF-aware outer fold, fit
on its training pairs only; ``DeepDRIM.fit`` holds out validation TFs *inside* them (the inner
split, early stopping); the fold's value is ``search.metric`` at the best epoch (the weights
early stopping restores). The trial's value is the mean over the folds. Only the best trial's
configuration then sees the outer test folds, once, as a normal ``task=cv`` job in its own run.

Pruning: every epoch's validation metric is reported at step ``fold * stride + epoch`` with
``stride`` the largest ``training.epochs`` the space allows, so a step means the same fold and
epoch in every trial. Sharing and resuming are Optuna's own: ``study.optimize`` with a
``MaxTrialsCallback`` over COMPLETE + PRUNED (+ RUNNING, so parallel workers stop together at
``n_trials``, the study's target, not "this many more"), plus :func:`check_budget` at the start of
every trial (exactly ``n_trials``, however the workers interleave), and storage heartbeats: a trial
whose worker died is failed after the grace period, its MLflow run marked KILLED, and re-queued by
``RetryHeartbeatStaleTrialCallback`` (Optuna 5's name of ``RetryFailedTrialCallback``); a journal
file has no heartbeats, there a dead worker of this host is found by its pid
(:func:`experiments.tracking.search_study.fail_dead_local_trials`). The worker that ran the last trial
finalises the study. The search space lives in :mod:`experiments.config.search_space`.
"""
from __future__ import annotations

import json
import logging
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from hydra.utils import instantiate
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf, open_dict
from optuna.trial import TrialState

from deepdrim import plotting
from deepdrim._validation import check_choice
from deepdrim.data import Dataset
from deepdrim.evaluation import FoldReport
from deepdrim.files import save_figure, write_csv, write_text
from experiments.tracking import job_runs, mlflow_store
from experiments.config import checks, degrade
from experiments.config import method
from experiments.config.search_space import Param, apply_params, epoch_stride, format_params, parse_space, rerun_command
from experiments.tracking.optuna_storage import is_journal
from experiments.tracking.search_study import (Settings, TrialSeededSampler, end_run, fail_dead_local_trials,
                                               identity, make_pruner, on_dead_trial, open_storage, open_study,
                                               parent_run, settings)
from experiments.tasks import run_task

COUNTED = (TrialState.COMPLETE, TrialState.PRUNED)  # what n_trials counts
TAKEN = (*COUNTED, TrialState.RUNNING, TrialState.WAITING)  # trials that are or will be counted


class SurplusTrial(Exception):
    """A trial created after the study's ``n_trials`` were all taken by other workers: it ends FAIL
    (user attr ``surplus``) without training, and is counted neither as a trial nor as a failure."""


# ---------------------------------------------------------------------------- one trial
@dataclass
class Context:
    """What every trial of one worker shares."""

    cfg: DictConfig
    params: list[Param]
    conf: Settings
    data: Dataset
    stride: int
    client: MlflowClient
    experiment_id: str
    parent_id: str
    worker: dict  # this call (host, pid, pid_start, worker_id): user attr ``worker`` of its trials, run tags
    on_dead: Any = None  # journal storage: fails a dead local worker's trial (fail_dead_local_trials)


def evaluate(trial: optuna.Trial, ctx: Context, run_id: str) -> float:
    """Mean over the outer training folds of the validation metric at the best epoch (the cv job's
    cross-validation, test pairs not scored); reports every epoch to the pruner (raises ``optuna.TrialPruned``)."""
    metric, values = ctx.conf.metric, []

    def on_epoch(k: int, epoch: int, logs: dict) -> None:
        step = k * ctx.stride + epoch
        job_runs.log_batch(ctx.client, run_id, metrics={f"fold{k}/{name}": v for name, v in logs.items()}, step=epoch)
        value = logs.get(metric, np.nan)
        if np.isfinite(value):
            job_runs.log_batch(ctx.client, run_id, metrics={f"reported/{metric}": value}, step=step)
            trial.report(float(value), step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at fold {k} epoch {epoch} ({metric}={value:.4f})")

    def on_fold(k: int, fold: FoldReport) -> None:
        best = fold.best_epoch
        value = fold.history[metric][best] if best >= 0 else np.nan
        if not np.isfinite(value):
            raise ValueError(f"fold {k} has no validation split of >= 4 TFs with both classes ({fold.n_train_tfs} "
                             f"training TFs; a split needs >= 8, or validation_fraction x TFs >= 4): no {metric} to "
                             f"search on (raise search.validation_fraction or use more TFs)")
        job_runs.log_batch(ctx.client, run_id, metrics={f"fold{k}/best_{metric}": value, f"fold{k}/best_epoch": best,
                                                        f"fold{k}/epochs_run": len(fold.history["loss"])})
        values.append(float(value))

    trial_cfg = apply_params(ctx.cfg, trial.params, ctx.params)
    with open_dict(trial_cfg):  # every epoch validated (a report per epoch), on search.validation_fraction of the TFs
        trial_cfg.training.plateau_validation = True
        trial_cfg.training.validation_fraction = float(ctx.cfg.search.validation_fraction)
    method.cross_validate(trial_cfg, ctx.data, on_epoch, split="tf", on_fold=on_fold, score=False, progress=False)
    return float(np.mean(values))


def objective(ctx: Context):
    """The Optuna objective: one trial in its nested MLflow run (PRUNED: run KILLED, tag state=PRUNED)."""
    def run_trial(trial: optuna.Trial) -> float:
        trial.set_user_attr("worker", ctx.worker)
        check_budget(trial, ctx)
        for param in ctx.params:
            param.suggest(trial)
        start = time.time()
        run = mlflow_store.with_retry(ctx.client.create_run, ctx.experiment_id, run_name=f"trial {trial.number}", tags={
            "mlflow.parentRunId": ctx.parent_id, "kind": "search-trial", "optuna_study": ctx.conf.study_name,
            "trial_number": str(trial.number), "state": "RUNNING", **ctx.worker})
        run_id = run.info.run_id
        trial.set_user_attr("mlflow_run_id", run_id)
        job_runs.log_batch(ctx.client, run_id, params={**trial.params, "trial_number": trial.number})
        shown = format_params(trial.params)
        try:
            value = evaluate(trial, ctx, run_id)
        except optuna.TrialPruned as pruned:
            end_run(ctx.client, run_id, "KILLED", {"wall_seconds": time.time() - start}, state="PRUNED",
                    pruned=str(pruned))
            print(f"trial {trial.number} PRUNED ({pruned}) {time.time() - start:.0f}s {shown}", flush=True)
            raise
        except BaseException as error:
            end_run(ctx.client, run_id, raised=error, state="FAIL")
            raise
        end_run(ctx.client, run_id, metrics={"objective": value, "wall_seconds": time.time() - start}, state="COMPLETE")
        print(f"trial {trial.number} COMPLETE ({ctx.conf.metric}={value:.4f}) {time.time() - start:.0f}s {shown}",
              flush=True)
        return value

    return run_trial


def check_budget(trial: optuna.Trial, ctx: Context) -> None:
    """Raise :class:`SurplusTrial` (and stop this worker) when ``n_trials`` trials numbered before
    this one are already taken: Optuna's ``MaxTrialsCallback`` only looks after a trial, so two
    workers finishing together, or one joining late, would each start one more. Trial numbers are
    handed out by the storage in order, so exactly the first ``n_trials`` live trials run."""
    study = trial.study
    if ctx.on_dead is not None:
        fail_dead_local_trials(study, ctx.on_dead)
    ahead = sum(t.number < trial.number and t.state in TAKEN for t in study.get_trials(deepcopy=False))
    if ahead >= ctx.conf.n_trials:
        trial.set_user_attr("surplus", True)
        study.stop()
        message = f"trial {trial.number} not run: the study's {ctx.conf.n_trials} trials are taken"
        print(message, flush=True)
        raise SurplusTrial(message)


# ---------------------------------------------------------------------------- the end of a study
def _counts(study: optuna.Study) -> dict[str, int]:
    """Trials per state name; a surplus trial (:class:`SurplusTrial`) counts as ``surplus``, not ``FAIL``."""
    trials = study.get_trials(deepcopy=False)
    counts = {state.name: sum(t.state == state for t in trials) for state in TrialState}
    counts["surplus"] = sum(bool(t.user_attrs.get("surplus")) for t in trials)
    counts["FAIL"] -= counts["surplus"]
    return counts


def finaliser(study: optuna.Study, worker: dict) -> bool:
    """Whether this worker finalises the study: the one that ran its last-finished COMPLETE/PRUNED
    trial, so workers that end together do not both train the best configuration; any worker when
    that trial has no recorded worker."""
    done = [t for t in study.get_trials(deepcopy=False, states=COUNTED) if t.datetime_complete]
    if not done:
        return True
    last = max(done, key=lambda t: (t.datetime_complete, t.number))
    return last.user_attrs.get("worker", worker) == worker


def study_figures(study: optuna.Study, out_dir: Path, seed: int) -> tuple[list[Path], dict[str, str]]:
    """Optuna's own matplotlib plots as PNGs: optimisation history, parameter importances,
    parallel coordinates, intermediate values. A plot that cannot be drawn (too few trials)
    becomes a PNG saying why (:func:`deepdrim.plotting.note`). Returns the paths and {file name: note} for those."""
    import matplotlib

    matplotlib.use("Agg")  # no window, wherever the job runs
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as vis

    notes, paths = {}, []
    n_complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    plots = {  # file -> (draw, complete trials it needs)
        "optimization_history.png": (lambda: vis.plot_optimization_history(study), 1),
        "param_importances.png": (lambda: vis.plot_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=seed)), 3),
        "parallel_coordinate.png": (lambda: vis.plot_parallel_coordinate(study), 1),
        "intermediate_values.png": (lambda: vis.plot_intermediate_values(study), 0),
    }
    for name, (plot, needs) in plots.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                if n_complete < needs:
                    raise ValueError(f"needs {needs}+ complete trials, the study has {n_complete}")
                axes = plot()
                fig = (axes.ravel()[0] if isinstance(axes, np.ndarray) else axes).figure
                if name == "parallel_coordinate.png":
                    fig.set_size_inches(max(8.0, 1.3 * len(study.best_trial.params) + 2), 5.0)
            except Exception as error:  # noqa: BLE001 - a plot Optuna cannot draw is noted, not fatal
                notes[name] = f"{name[:-4].replace('_', ' ')} not drawn: {error}"
                fig = plotting.note(notes[name])
        paths.append(save_figure(fig, out_dir / name))
        plt.close(fig)  # Optuna draws through pyplot
    return paths, notes


def best_on_test(study: optuna.Study, ctx: Context, out_dir: Path, overrides: str) -> tuple[str, dict]:
    """The best trial's configuration as a normal ``task=cv`` job (outer training folds, scored
    once on the outer test folds) in a nested ``best-on-test`` run; an identical configuration
    that FINISHED before is reused (the job wrapper's resume)."""
    best = study.best_trial
    best_cfg = OmegaConf.masked_copy(apply_params(ctx.cfg, best.params, ctx.params),
                                     [k for k in ctx.cfg if k != "search"])
    with open_dict(best_cfg):
        best_cfg.task = "cv"
        best_cfg.tracking.experiment = ctx.conf.experiment
        best_cfg.tracking.run_name = f"best-on-test (trial {best.number})"
    metrics = run_task("cv", best_cfg, out_dir, overrides, tags={
        "kind": "search-best", "task": "search-best", "mlflow.parentRunId": ctx.parent_id,
        "optuna_study": ctx.conf.study_name, "trial_number": str(best.number)})
    chash = job_runs.config_hash(OmegaConf.to_container(best_cfg, resolve=True))
    run = job_runs.finished_run(ctx.experiment_id, chash)
    return run.info.run_id, {k: v for k, v in metrics.items() if "/" not in k}


def finalise(study: optuna.Study, ctx: Context, output_dir: Path, overrides: str) -> dict:
    """Best params, figures, trials table, the best-on-test run and the re-run command on the
    parent run, which ends FINISHED. Any worker may do it again: the result is the same."""
    counts = _counts(study)
    out = Path(output_dir) / "search"
    trials = study.get_trials(deepcopy=False)
    seconds = {t.number: (t.datetime_complete - t.datetime_start).total_seconds() for t in trials
               if t.datetime_complete and t.datetime_start}
    complete = [seconds[t.number] for t in trials if t.state == TrialState.COMPLETE and t.number in seconds]
    pruned = [seconds[t.number] for t in trials if t.state == TrialState.PRUNED and t.number in seconds]
    # a pruned trial would have cost about a complete one: an estimate, not a measurement
    saved = max(0.0, len(pruned) * float(np.mean(complete)) - sum(pruned)) if complete else 0.0
    summary: dict[str, Any] = {
        "study": ctx.conf.study_name, "storage": ctx.conf.storage, "metric": ctx.conf.metric,
        "direction": ctx.conf.direction, "n_trials_target": ctx.conf.n_trials, "counts": counts,
        "trial_seconds": sum(seconds.values()), "pruned_trial_seconds": sum(pruned),
        "estimated_seconds_saved_by_pruning": saved, "parent_run_id": ctx.parent_id}
    metrics = {"n_complete": counts["COMPLETE"], "n_pruned": counts["PRUNED"], "n_failed": counts["FAIL"],
               "trial_seconds": summary["trial_seconds"], "estimated_seconds_saved_by_pruning": saved}
    files, notes = study_figures(study, out, int(ctx.cfg.seed))
    files.append(write_csv(study.trials_dataframe(), out / "trials.csv"))
    tags: dict[str, Any] = {}
    if counts["COMPLETE"]:
        best = study.best_trial
        command = rerun_command(ctx.cfg, best.params, ctx.params, overrides)
        summary.update(best_trial=best.number, best_value=best.value, best_params=best.params, rerun=command)
        metrics["best_value"] = best.value
        tags.update({**{f"best.{k}": v for k, v in best.params.items()}, "best_trial": best.number,
                     "rerun_command": command})
        if ctx.conf.evaluate_best:
            run_id, test = best_on_test(study, ctx, out / "best_on_test", overrides)
            summary.update(best_on_test_run_id=run_id, test=test)
            metrics.update({f"test/{k}": v for k, v in test.items()})
            tags["best_on_test_run_id"] = run_id
        files.append(write_text(json.dumps(best.params, indent=2, default=str), out / "best_params.json"))
    summary["figure_notes"] = notes
    if notes:
        tags["figure_notes"] = "; ".join(notes.values())
    files.append(write_text(json.dumps(summary, indent=2, default=str), out / "summary.json"))
    for path in files:
        mlflow_store.with_retry(ctx.client.log_artifact, ctx.parent_id, str(path))
    end_run(ctx.client, ctx.parent_id, metrics=metrics, **tags)
    return json.loads(json.dumps({**summary, **metrics}, default=str))


def _print_summary(result: dict, wall: float) -> None:
    counts = result["counts"]
    print(f"search {result['study']}: {counts['COMPLETE'] + counts['PRUNED']} trials "
          f"({counts['COMPLETE']} complete, {counts['PRUNED']} pruned, {counts['FAIL']} failed); "
          f"this worker {wall:.0f}s; trial time {result['trial_seconds']:.0f}s, pruning saved "
          f"~{result['estimated_seconds_saved_by_pruning']:.0f}s (estimate); parent run {result['parent_run_id']}")
    if "best_trial" not in result:
        print("no trial completed: no best configuration")
        return
    print(f"best trial {result['best_trial']}: {result['metric']}={result['best_value']:.4f} "
          + format_params(result["best_params"]))
    if "test" in result:
        test = result["test"]
        print(f"best on the outer test folds (run {result['best_on_test_run_id']}): "
              f"auroc={test.get('auroc', float('nan')):.3f} auprc={test.get('auprc', float('nan')):.3f}")
    print(f"re-run the best configuration as a normal job:\n  {result['rerun']}")


# ---------------------------------------------------------------------------- the task
def check(cfg: DictConfig, params: list[Param], data: Dataset) -> None:
    """The job's own checks on the base config and on every value the space can take."""
    check_choice("search tunes DeepDRIM: method", cfg.get("method", "deepdrim"), checks.SUPERVISED)
    method.validate(cfg, data)
    for param in params:
        for value in param.extremes():
            try:
                method.validate(apply_params(cfg, {param.name: value}, params), data)
            except ValueError as error:
                raise ValueError(f"search.space.{param.name}={value!r}: {error}") from None


def run(cfg: DictConfig, output_dir: Path, overrides: str = "") -> dict[str, float]:
    """The ``task=search`` job: check everything, open or resume the study, run the missing
    trials (sharing the study with any other worker), then finalise it."""
    start = time.time()
    conf = settings(cfg)
    params = parse_space(cfg.search.get("space"), cfg)
    data = degrade.job_dataset(cfg, lambda data: check(cfg, params, data))
    stride = epoch_stride(cfg, params)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # a fresh model per fold retraces predict
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    experiment_id = mlflow_store.setup(cfg.tracking.uri, cfg.tracking.artifact_root, conf.experiment)
    client = MlflowClient(mlflow_store.resolve_uri(cfg.tracking.uri))
    sampler = TrialSeededSampler(instantiate(cfg.search.sampler, _partial_=True), int(cfg.seed))
    study, created = open_study(conf, identity(cfg, params, conf), open_storage(cfg, client),
                                make_pruner(cfg, int(cfg.cv.n_folds) * stride), sampler)
    parent_id = parent_run(study, created, client, experiment_id, conf, cfg)
    on_dead = on_dead_trial(cfg, client) if is_journal(conf.storage) else None
    worker = {**job_runs.process_tags(), "worker_id": uuid.uuid4().hex[:12]}  # one per call: threads differ too
    ctx = Context(cfg, params, conf, data, stride, client, experiment_id, parent_id, worker, on_dead)
    if on_dead is not None:
        fail_dead_local_trials(study, on_dead)
    done = sum(_counts(study)[s.name] for s in COUNTED)
    print(f"study {conf.study_name!r} in {conf.storage}: target {conf.n_trials} trials, {done} done; "
          f"MLflow parent run {parent_id}")
    try:
        if done < conf.n_trials:
            stop = optuna.study.MaxTrialsCallback(conf.n_trials, states=(*COUNTED, TrialState.RUNNING))
            study.optimize(objective(ctx), n_trials=conf.n_trials - done, callbacks=[stop], catch=(SurplusTrial,))
    except BaseException as error:
        end_run(client, parent_id, raised=error)
        raise
    counts = _counts(study)
    # the worker that ran the last trial finalises; a resumed, complete study: any worker, again
    if counts["RUNNING"] or (done < conf.n_trials and not finaliser(study, ctx.worker)):
        print(f"{counts['RUNNING']} trial(s) still running in other workers" if counts["RUNNING"] else
              "another worker ran the last trial", "- the worker that ends the last trial finalises the study")
        return {"n_complete": float(counts["COMPLETE"]), "n_pruned": float(counts["PRUNED"])}
    result = finalise(study, ctx, output_dir, overrides)
    _print_summary(result, time.time() - start)
    out = {k: float(v) for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    out.update({k: float(v) for k, v in result.get("test", {}).items()})
    return out
