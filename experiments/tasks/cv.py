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

from deepdrim.baselines import BASELINES, gene_prior_scores, target_mean_scores
from deepdrim.cv import SPLITS, make_folds
from deepdrim.diagnostics import constant_scores
from deepdrim.estimator import DeepDRIM
from deepdrim.io import write_ranked_edges
from deepdrim.metrics import bootstrap_auroc_ci, early_precision_ratio, per_tf_metrics, summary
from experiments.tracking import artifacts, mlflow_dataset, job_runs
from experiments.config import checks, degrade
from experiments.reports import verdicts
from experiments.tracking.mlflow_model import link_probabilities as positive_scores  # P(edge): column 1 of predict_proba
from experiments.config.checks import SUPERVISED
from experiments.config import data as job_data

log = logging.getLogger(__name__)
HEADLINE = ("auroc", "auprc", "median_tf_auroc", "median_tf_auprc")
#: the controls every CV job scores the same test pairs with (predictions columns, metric prefixes):
#: |Pearson r|, the gene prior (target's positive rate among the fold's training pairs) and the
#: target's mean expression (no training, no TF information)
CONTROLS = ("pcc", "prior", "target_mean")
CONTROL_LABELS = {"pcc": "Pearson |r|", "prior": "gene prior", "target_mean": "target mean"}


def method_label(cfg: DictConfig) -> str:
    """'DeepDRIM neighbors=10', 'CNNC' or the baseline's name."""
    method = cfg.get("method", "deepdrim")
    if method == "deepdrim":
        return f"DeepDRIM neighbors={cfg.neighbors}" if cfg.neighbors else "DeepDRIM neighbors=0 (CNNC)"
    if method == "target_only":
        return f"DeepDRIM target-only neighbors={cfg.neighbors}"
    return "CNNC" if method == "cnnc" else method


def estimator_params(cfg: DictConfig) -> dict:
    """DeepDRIM constructor arguments from the model and training groups."""
    params = {**OmegaConf.to_container(cfg.model, resolve=True), **OmegaConf.to_container(cfg.training, resolve=True)}
    for key in ("conv_filters", "dense_units"):
        params[key] = tuple(params[key])
    params["random_state"] = int(cfg.seed)
    return params


def pearson_scores(expression: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """|Pearson r| on eq.-1 values (``deepdrim.baselines.pcc``): the ranking every run is compared with."""
    return BASELINES["pcc"](expression, pairs)


def split_of(cfg: DictConfig) -> str:
    """The CV job's fold mode, ``cv.split`` ("tf" when a config predates the key)."""
    return str(cfg.cv.get("split", "tf"))


def cross_validate(cfg: DictConfig, data: job_data.JobData, on_epoch=None,
                   fold_stats: Optional[list] = None) -> pd.DataFrame:
    """Predictions (tf, target, label, kind, score, pcc, prior, target_mean, fold) of every pair
    from the fold that held it out (``cv.split``: "tf" = TF-aware, "strict" = no gene on both
    sides, where untested pairs keep NaN scores and fold -1). DeepDRIM/CNNC/target-only train on
    the fold's training pairs (cut to ``train_fraction``); a baseline scores the same test pairs
    without labels; the controls (:data:`CONTROLS`): ``pcc``, ``prior`` (the target's positive
    rate among the same training pairs) and ``target_mean`` (the target's mean expression).
    ``on_epoch(fold, epoch, logs)``; ``fold_stats`` (a list) gets one dict per fold:
    ``n_train_pairs``, ``n_train_tfs``, ``n_test_pairs``, ``n_dropped`` and ``failure`` (why the
    fold's model did not learn, :func:`deepdrim.diagnostics.learning_failure`, else None)."""
    method = cfg.get("method", "deepdrim")
    pairs, labels = data.pairs.pairs, data.pairs.labels
    folds = make_folds(pairs, int(cfg.cv.n_folds), split_of(cfg), random_state=int(cfg.seed))
    scores = np.full(len(pairs), np.nan)
    prior = np.full(len(pairs), np.nan)
    fold_of = np.full(len(pairs), -1)
    expression = data.expression.to_numpy()
    supervised = method in SUPERVISED
    total = len(folds) * (int(cfg.training.epochs) if supervised else 1)
    label = f"CV {method}" + (f" neighbors={cfg.neighbors}" if supervised else "") + f" {len(pairs):,} pairs"
    if not supervised:  # scored once over all pairs, so GENIE3/GRNBoost2 regress on every TF
        scores = BASELINES[method](expression, pairs, random_state=int(cfg.seed))
    refresh = 0.5 if sys.stderr.isatty() else 30.0  # a log file gets a line every 30 s, not every epoch
    with tqdm(total=total, desc=label, unit="epoch" if supervised else "fold", leave=False,
              mininterval=refresh) as bar:
        for k, (train, test, n_dropped) in enumerate(folds):
            fold_of[test] = k
            train = degrade.train_subset(cfg, train, labels, k)
            prior[test] = gene_prior_scores(pairs[train], labels[train], pairs[test], by="target")
            stats = {"n_train_pairs": len(train), "n_train_tfs": len(np.unique(pairs[train, 0])),
                     "n_test_pairs": len(test), "n_dropped": int(n_dropped), "failure": None}
            if fold_stats is not None:
                fold_stats.append(stats)
            if not supervised:
                bar.update(1)
                continue

            def epoch_end(epoch, logs, k=k, n_train=len(train)):
                bar.update(1)
                bar.set_postfix(fold=f"{k + 1}/{len(folds)}", train_pairs=n_train, epoch=epoch + 1,
                                val_auroc=f"{logs.get('val_auroc', float('nan')):.3f}")
                if on_epoch is not None:
                    on_epoch(k, epoch, logs)

            model = DeepDRIM(**estimator_params(cfg))
            model.fit(expression, pairs[train], labels[train], epoch_callback=epoch_end)
            bar.update(int(cfg.training.epochs) * (k + 1) - bar.n)  # early stopping skips epochs
            scores[test] = positive_scores(model.predict_proba(pairs[test]))
            stats["failure"] = getattr(model, "failure_", None)
            if stats["failure"] is None and constant_scores(scores[test]):
                stats["failure"] = f"constant scores on the fold's {len(test)} test pairs"
            if stats["failure"]:
                log.warning("fold %d: %s did not learn: %s", k, method_label(cfg), stats["failure"])
    if not supervised:
        scores[fold_of < 0] = np.nan  # strict: a pair no fold tests has no score
    tf, target = data.pair_names(pairs)
    pcc = pearson_scores(expression, pairs)
    pcc[fold_of < 0] = np.nan
    target_mean = target_mean_scores(expression, pairs)
    target_mean[fold_of < 0] = np.nan
    return pd.DataFrame({"tf": tf, "target": target, "label": labels, "kind": data.pairs.kind,
                         "score": scores, "pcc": pcc, "prior": prior, "target_mean": target_mean,
                         "fold": fold_of})


def tested(predictions: pd.DataFrame) -> pd.DataFrame:
    """The rows a fold tested (all of them under ``cv.split=tf``)."""
    return predictions[predictions.fold >= 0]


def fold_metrics(predictions: pd.DataFrame, column: str = "score") -> dict[str, float]:
    """Pooled headline metrics plus ``fold{k}/...`` per fold, over the tested rows."""
    predictions = tested(predictions)
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
    checks.choice("cv.split", split_of(cfg), SPLITS)
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


def trust_metrics(cfg: DictConfig, done: pd.DataFrame, stats: list[dict]) -> dict[str, float]:
    """What the job learned from and how sure its AUROC is: ``n_train_pairs`` / ``n_train_tfs`` /
    ``n_dropped`` (mean per fold, and ``fold{k}/...``), ``auroc_ci_low`` / ``auroc_ci_high`` (95%
    percentile bootstrap over TFs, 1000 resamples seeded by ``seed``)."""
    out: dict[str, float] = {}
    for key in ("n_train_pairs", "n_train_tfs", "n_dropped"):
        out[key] = float(np.mean([fold[key] for fold in stats])) if stats else float("nan")
        out.update({f"fold{k}/{key}": float(fold[key]) for k, fold in enumerate(stats)})
    finite = done[np.isfinite(done.score)]
    if finite.label.nunique() == 2:
        ci = bootstrap_auroc_ci(finite.tf.to_numpy(), finite.label.to_numpy(), finite.score.to_numpy(),
                                n_resamples=1000, random_state=int(cfg.seed))
        out.update(auroc_ci_low=ci.low, auroc_ci_high=ci.high)
    return out


def trust_verdict(cfg: DictConfig, metrics: dict, failure: Optional[str] = None) -> verdicts.Trust:
    """The job's one-line trust verdict against the strongest control (Pearson, the gene prior,
    the target's mean expression), or "failed_to_learn" with ``failure`` (:func:`verdicts.trust`)."""
    nan = float("nan")
    return verdicts.trust(method_label(cfg), metrics.get("auroc", nan), metrics.get("auroc_ci_low", nan),
                          metrics.get("auroc_ci_high", nan), metrics.get("pcc/auroc", nan),
                          metrics.get("prior/auroc", nan), metrics.get("n_train_pairs", nan),
                          target_mean_auroc=metrics.get("target_mean/auroc", nan), failure=failure)


def failure_summary(stats: list[dict]) -> Optional[str]:
    """One line naming the folds whose model did not learn and why, or None when all learned."""
    failed = [(k, fold["failure"]) for k, fold in enumerate(stats) if fold.get("failure")]
    if not failed:
        return None
    reasons = list(dict.fromkeys(reason.split(" (")[0] for _, reason in failed))  # the kind, without numbers
    return (f"fold{'s' if len(failed) > 1 else ''} {', '.join(str(k) for k, _ in failed)} of {len(stats)}: "
            + "; ".join(reasons))


def run(cfg: DictConfig, output_dir: Path, overrides: str = "", tags: Optional[dict] = None) -> dict[str, float]:
    """The ``task=cv`` job: check the input, then (unless this configuration already FINISHED)
    cross-validate and return the metrics and files :func:`tracking.run_job` logs (with ``tags``)."""
    start = time.time()
    data = job_data.load(OmegaConf.to_container(cfg.data, resolve=True), int(cfg.seed))
    validate(cfg, data)  # bad input fails here: one line, nothing written
    data = degrade.degrade(cfg, data)

    def compute() -> job_runs.JobResult:
        mlflow_dataset.log_job_input(cfg.data, int(cfg.seed), data.expression)
        stats: list[dict] = []
        predictions = cross_validate(cfg, data, lambda fold, epoch, logs: job_runs.log_metrics(
            {f"fold{fold}/{k}": v for k, v in logs.items()}, step=epoch), fold_stats=stats)
        metrics = fold_metrics(predictions)
        for name in CONTROLS:
            metrics.update({f"{name}/{k}": v for k, v in fold_metrics(predictions, name).items() if "/" not in k})
        done = tested(predictions)
        metrics.update(n_pairs=float(len(predictions)), n_tested=float(len(done)),
                       n_positive=float(done.label.sum()), wall_seconds=time.time() - start,
                       n_cells=float(data.expression.shape[0]), n_genes=float(data.expression.shape[1]))
        metrics.update(trust_metrics(cfg, done, stats))
        failure = failure_summary(stats)
        metrics.update({f"fold{k}/learned": float(not fold.get("failure")) for k, fold in enumerate(stats)},
                       n_failed_folds=float(sum(bool(fold.get("failure")) for fold in stats)))
        label = method_label(cfg)
        verdict = trust_verdict(cfg, metrics, failure)
        files = [
            artifacts.write_csv(predictions, output_dir / "predictions.csv"),
            artifacts.write_csv(per_tf_metrics(done.tf, done.label, done.score).table,
                                output_dir / "per_tf_metrics.csv"),
            write_ranked_edges(output_dir / "rankedEdges.csv", done.tf, done.target, done.score),
            *artifacts.curve_figures({label: (done.label, done.score),
                                      **{CONTROL_LABELS[c]: (done.label, done[c]) for c in CONTROLS}},
                                     output_dir, label),
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
