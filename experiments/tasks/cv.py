"""One job: TF-aware cross-validation of DeepDRIM on one dataset, logged to MLflow."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import numpy as np
from omegaconf import DictConfig

from deepdrim import evaluation, plotting, verdicts
from deepdrim.evaluation import CONTROLS
from deepdrim.metrics import per_tf_metrics
from deepdrim.ranked_edges import write_ranked_edges
from deepdrim.files import write_csv
from experiments.config import degrade
from experiments.config.method import cross_validate, method_label, split_of, validate
from experiments.tracking import job_runs, mlflow_dataset

CONTROL_LABELS = {"pcc": "Pearson |r|", "prior": "gene prior", "target_mean": "target mean"}


def trust_metrics(cfg: DictConfig, result: evaluation.CrossValidation) -> dict[str, float]:
    """What the job learned from and how sure its AUROC is: ``n_train_pairs`` / ``n_train_tfs`` /
    ``n_dropped`` (mean per fold, and ``fold{k}/...``), ``auroc_ci_low`` / ``auroc_ci_high`` (95%
    percentile bootstrap over TFs, 1000 resamples seeded by ``seed``)."""
    out: dict[str, float] = {}
    for key in ("n_train_pairs", "n_train_tfs", "n_dropped"):
        values = [getattr(fold, key) for fold in result.folds]
        out[key] = float(np.mean(values)) if values else float("nan")
        out.update({f"fold{k}/{key}": float(value) for k, value in enumerate(values)})
    out.update(evaluation.auroc_interval(result, n_resamples=1000, random_state=int(cfg.seed)))
    return out


def trust_verdict(cfg: DictConfig, metrics: dict, failure: Optional[str] = None) -> verdicts.Trust:
    """The job's one-line trust verdict against the strongest control (Pearson, the gene prior,
    the target's mean expression), or "failed_to_learn" with ``failure`` (:func:`verdicts.trust`)."""
    nan = float("nan")
    return verdicts.trust(method_label(cfg), metrics.get("auroc", nan), metrics.get("auroc_ci_low", nan),
                          metrics.get("auroc_ci_high", nan), metrics.get("pcc/auroc", nan),
                          metrics.get("prior/auroc", nan), metrics.get("n_train_pairs", nan),
                          target_mean_auroc=metrics.get("target_mean/auroc", nan), failure=failure)


def run(cfg: DictConfig, output_dir: Path, overrides: str = "", tags: Optional[dict] = None) -> dict[str, float]:
    """The ``task=cv`` job: check the input, then (unless this configuration already FINISHED)
    cross-validate and return the metrics and files :func:`tracking.run_job` logs (with ``tags``)."""
    start = time.time()
    data = degrade.job_dataset(cfg, lambda data: validate(cfg, data))

    def compute() -> job_runs.JobResult:
        mlflow_dataset.log_job_input(cfg.data, int(cfg.seed), data.expression)
        result = cross_validate(cfg, data, lambda fold, epoch, logs: job_runs.log_metrics(
            {f"fold{fold}/{k}": v for k, v in logs.items()}, step=epoch))
        predictions = result.predictions
        metrics = result.metrics()
        for name in CONTROLS:
            metrics.update({f"{name}/{k}": v for k, v in result.metrics(name).items() if "/" not in k})
        done = result.tested()
        metrics.update(n_pairs=float(len(predictions)), n_tested=float(len(done)),
                       n_positive=float(done.label.sum()), wall_seconds=time.time() - start,
                       n_cells=float(data.expression.shape[0]), n_genes=float(data.expression.shape[1]))
        metrics.update(trust_metrics(cfg, result))
        failure = result.failure_summary()
        metrics.update({f"fold{k}/learned": float(not fold.failure) for k, fold in enumerate(result.folds)},
                       n_failed_folds=float(sum(bool(fold.failure) for fold in result.folds)))
        label = method_label(cfg)
        verdict = trust_verdict(cfg, metrics, failure)
        files = [
            write_csv(predictions, output_dir / "predictions.csv"),
            write_csv(per_tf_metrics(done.tf, done.label, done.score).table, output_dir / "per_tf_metrics.csv"),
            write_ranked_edges(output_dir / "rankedEdges.csv", done.tf, done.target, done.score),
            *plotting.save_roc_pr({label: (done.label, done.score),
                                   **{CONTROL_LABELS[c]: (done.label, done[c]) for c in CONTROLS}}, output_dir, label),
        ]
        controls = " ".join(f"{c}_auroc={metrics[f'{c}/auroc']:.3f}" for c in CONTROLS)
        result = (f"FAILED to learn ({failure})" if failure else
                  f"auroc={metrics['auroc']:.3f} auprc={metrics['auprc']:.3f} "
                  f"median_tf_auroc={metrics['median_tf_auroc']:.3f}")
        print(f"{label} [split={split_of(cfg)}]: {result} {controls} wall={metrics['wall_seconds']:.1f}s")
        print(f"trust: {verdict.line}")
        return job_runs.JobResult(metrics, files, tags={"trust": verdict.level, "trust_line": verdict.line})

    return job_runs.run_job(cfg, output_dir, overrides, "cv", compute, default_name="default",
                            tags={"data_source": data.source, "method": cfg.method, "cv_split": split_of(cfg),
                                  **(tags or {})})
