"""One job: TF-aware cross-validation of DeepDRIM on one dataset, logged to MLflow."""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from deepdrim.baselines import BASELINES
from deepdrim.cv import tf_aware_folds
from deepdrim.estimator import DeepDRIM
from deepdrim.io import write_ranked_edges
from deepdrim.metrics import early_precision_ratio, per_tf_metrics, summary
from experiments import artifacts, checks, degrade, mlflow_dataset, tracking
from experiments.checks import METHODS, SUPERVISED  # noqa: F401 - public here since the cv_job days
from experiments import data as job_data

log = logging.getLogger(__name__)
HEADLINE = ("auroc", "auprc", "median_tf_auroc", "median_tf_auprc")


def method_label(cfg: DictConfig) -> str:
    """'DeepDRIM neighbors=10', 'CNNC' or the baseline's name."""
    method = cfg.get("method", "deepdrim")
    if method == "deepdrim":
        return f"DeepDRIM neighbors={cfg.neighbors}" if cfg.neighbors else "DeepDRIM neighbors=0 (CNNC)"
    return "CNNC" if method == "cnnc" else method


def estimator_params(cfg: DictConfig) -> dict:
    """DeepDRIM constructor arguments from the model and training groups."""
    params = {**OmegaConf.to_container(cfg.model, resolve=True), **OmegaConf.to_container(cfg.training, resolve=True)}
    for key in ("conv_filters", "dense_units"):
        params[key] = tuple(params[key])
    params["random_state"] = int(cfg.seed)
    return params


def positive_scores(proba: np.ndarray) -> np.ndarray:
    """P(edge) per pair: column 1 of a (P, 2) ``predict_proba`` (a 1-D one is taken as it is)."""
    proba = np.asarray(proba)
    return proba[:, 1] if proba.ndim == 2 else proba


def pearson_scores(expression: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """|Pearson r| on eq.-1 values (``deepdrim.baselines.pcc``): the ranking every run is compared with."""
    return BASELINES["pcc"](expression, pairs)


def cross_validate(cfg: DictConfig, data: job_data.JobData, on_epoch=None) -> pd.DataFrame:
    """Predictions (tf, target, label, kind, score, pcc, fold) of every pair from the fold that
    held it out. DeepDRIM/CNNC train on the fold's training pairs (cut to ``train_fraction``);
    a baseline scores the same test pairs without labels. ``on_epoch(fold, epoch, logs)``."""
    method = cfg.get("method", "deepdrim")
    pairs, labels = data.pairs.pairs, data.pairs.labels
    folds = tf_aware_folds(pairs, int(cfg.cv.n_folds), random_state=int(cfg.seed))
    scores = np.full(len(pairs), np.nan)
    fold_of = np.full(len(pairs), -1)
    expression = data.expression.to_numpy()
    supervised = method in SUPERVISED
    total = len(folds) * (int(cfg.training.epochs) if supervised else 1)
    label = f"CV {method}" + (f" neighbors={cfg.neighbors}" if supervised else "")
    if not supervised:  # scored once over all pairs, so GENIE3/GRNBoost2 regress on every TF
        scores = BASELINES[method](expression, pairs, random_state=int(cfg.seed))
    refresh = 0.5 if sys.stderr.isatty() else 30.0  # a log file gets a line every 30 s, not every epoch
    with tqdm(total=total, desc=label, unit="epoch" if supervised else "fold", leave=False,
              mininterval=refresh) as bar:
        for k, (train, test) in enumerate(folds):
            fold_of[test] = k
            if not supervised:
                bar.update(1)
                continue

            def epoch_end(epoch, logs, k=k):
                bar.update(1)
                bar.set_postfix(fold=k, val_auroc=f"{logs['val_auroc']:.3f}")
                if on_epoch is not None:
                    on_epoch(k, epoch, logs)

            train = degrade.train_subset(cfg, train, labels, k)
            model = DeepDRIM(**estimator_params(cfg))
            model.fit(expression, pairs[train], labels[train], epoch_callback=epoch_end)
            bar.update(int(cfg.training.epochs) * (k + 1) - bar.n)  # early stopping skips epochs
            scores[test] = positive_scores(model.predict_proba(pairs[test]))
    tf, target = data.pair_names(pairs)
    return pd.DataFrame({"tf": tf, "target": target, "label": labels, "kind": data.pairs.kind,
                         "score": scores, "pcc": pearson_scores(expression, pairs), "fold": fold_of})


def fold_metrics(predictions: pd.DataFrame, column: str = "score") -> dict[str, float]:
    """Pooled headline metrics plus ``fold{k}/...`` per fold."""
    metrics = dict(summary(predictions.tf, predictions.label, predictions[column]))
    metrics["epr"] = early_precision_ratio(predictions.label, predictions[column])
    for k, fold in predictions.groupby("fold"):
        if fold.label.nunique() == 2:
            for name, value in summary(fold.tf, fold.label, fold[column]).items():
                if name in HEADLINE:
                    metrics[f"fold{k}/{name}"] = value
    return metrics


def check(cfg: DictConfig, n_cells: Optional[int] = None, n_genes: Optional[int] = None) -> None:
    """The job's knobs against the data's size where known (the sweep check knows it from the
    simulation's config, :func:`validate` from the loaded data)."""
    name = checks.method(cfg.get("method", "deepdrim"))
    degrade.check(cfg, n_cells)
    if name in SUPERVISED:
        checks.neighbors(cfg.neighbors, n_genes, name)
        DeepDRIM(**estimator_params(cfg))._check_params()


def validate(cfg: DictConfig, data: job_data.JobData) -> None:
    """Everything checkable before a run starts (``ValueError`` with a one-line message)."""
    check(cfg, *data.expression.shape)
    n_tfs = len(np.unique(data.pairs.pairs[:, 0]))
    if n_tfs < int(cfg.cv.n_folds):
        raise ValueError(f"{cfg.cv.n_folds} TF-aware folds need at least {cfg.cv.n_folds} TFs; the data has {n_tfs}")


def run(cfg: DictConfig, output_dir: Path, overrides: str = "", tags: Optional[dict] = None) -> dict[str, float]:
    """The ``task=cv`` job: check the input, then (unless this configuration already FINISHED)
    cross-validate and return the metrics and files :func:`tracking.run_job` logs (with ``tags``)."""
    start = time.time()
    data = job_data.load(OmegaConf.to_container(cfg.data, resolve=True), int(cfg.seed))
    validate(cfg, data)  # bad input fails here: one line, nothing written
    data = degrade.degrade(cfg, data)

    def compute() -> tracking.JobResult:
        mlflow_dataset.log_job_input(cfg.data, int(cfg.seed), data.expression)
        predictions = cross_validate(cfg, data, lambda fold, epoch, logs: tracking.log_metrics(
            {f"fold{fold}/{k}": v for k, v in logs.items()}, step=epoch))
        metrics = fold_metrics(predictions)
        metrics.update({f"pcc/{k}": v for k, v in fold_metrics(predictions, "pcc").items() if "/" not in k})
        metrics.update(n_pairs=float(len(predictions)), n_positive=float(predictions.label.sum()),
                       wall_seconds=time.time() - start)
        label = method_label(cfg)
        files = [
            artifacts.write_csv(predictions, output_dir / "predictions.csv"),
            artifacts.write_csv(per_tf_metrics(predictions.tf, predictions.label, predictions.score).table,
                                output_dir / "per_tf_metrics.csv"),
            write_ranked_edges(output_dir / "rankedEdges.csv", predictions.tf, predictions.target, predictions.score),
            *artifacts.curve_figures({label: (predictions.label, predictions.score),
                                      "Pearson |r|": (predictions.label, predictions.pcc)}, output_dir, label),
        ]
        print(f"{label}: auroc={metrics['auroc']:.3f} auprc={metrics['auprc']:.3f} "
              f"median_tf_auroc={metrics['median_tf_auroc']:.3f} pcc_auroc={metrics['pcc/auroc']:.3f} "
              f"wall={metrics['wall_seconds']:.1f}s")
        return tracking.JobResult(metrics, files)

    return tracking.run_job(cfg, output_dir, overrides, "cv", compute, default_name="default",
                            tags={"data_source": data.source, "method": cfg.method, **(tags or {})})
