"""Cross-validate any scorer of gene pairs on one dataset, with the controls every result is read
against, and summarise it: pooled and per-fold metrics, which folds failed to learn, an AUROC
interval over TFs.

A scorer is a DeepDRIM estimator (cloned and fitted on each fold's training pairs) or an
unsupervised baseline ``fn(expression, pairs, random_state=None)`` (a name of
:data:`deepdrim.baselines.BASELINES` works too), scored once over all pairs. Every tested pair also
gets three controls computed from the same folds: ``pcc`` (|Pearson r|), ``prior`` (the target's
positive rate among the fold's training pairs) and ``target_mean`` (the target's mean expression,
no training at all). Under ``split="strict"`` pairs no fold tests keep NaN and fold -1.

    >>> result = cross_validate(DeepDRIM(n_neighbors=10, random_state=0), counts, pairs, labels)
    >>> result.metrics()["auroc"], result.metrics("prior")["auroc"], result.failure_summary()
"""
from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from typing import Callable, Optional, Union

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from deepdrim.baselines import BASELINES, gene_prior_scores, target_mean_scores
from deepdrim.cv import make_folds
from deepdrim.diagnostics import constant_scores, reported_per_fold
from deepdrim.metrics import bootstrap_auroc_ci, early_precision_ratio, summary

log = logging.getLogger(__name__)
#: the per-fold metrics :func:`fold_metrics` adds as ``fold{k}/<name>``
HEADLINE = ("auroc", "auprc", "median_tf_auroc", "median_tf_auprc")
#: the control columns of every cross-validation's predictions
CONTROLS = ("pcc", "prior", "target_mean")

Scorer = Union[str, Callable, object]


@dataclass
class FoldReport:
    """What one fold trained and tested on, why its model did not learn (None when it did), and
    its estimator's per-epoch ``history_`` and ``best_epoch_`` (-1: none) for model selection."""

    n_train_pairs: int
    n_train_tfs: int
    n_test_pairs: int
    n_dropped: int
    failure: Optional[str] = None
    history: dict = field(default_factory=dict)
    best_epoch: int = -1


@dataclass
class CrossValidation:
    """Out-of-fold predictions (tf, target, label, kind, score, pcc, prior, target_mean, fold; one
    row per labelled pair, in input order) and one :class:`FoldReport` per fold."""

    predictions: pd.DataFrame
    folds: list = field(default_factory=list)

    def tested(self) -> pd.DataFrame:
        """The rows a fold tested (all of them under ``split="tf"``)."""
        return tested(self.predictions)

    def metrics(self, column: str = "score") -> dict[str, float]:
        """Pooled metrics of ``column`` (the scorer's, or a control's) plus ``fold{k}/...``."""
        return fold_metrics(self.predictions, column)

    def failure_summary(self) -> Optional[str]:
        """One line naming the folds whose model did not learn and why, or None when all learned."""
        failed = [(k, fold.failure) for k, fold in enumerate(self.folds) if fold.failure]
        if not failed:
            return None
        reasons = list(dict.fromkeys(reason.split(" (")[0] for _, reason in failed))  # the kind, without numbers
        return (f"fold{'s' if len(failed) > 1 else ''} {', '.join(str(k) for k, _ in failed)} of {len(self.folds)}: "
                + "; ".join(reasons))


def tested(predictions: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``predictions`` a fold tested (``fold >= 0``)."""
    return predictions[predictions.fold >= 0]


def fold_metrics(predictions: pd.DataFrame, column: str = "score") -> dict[str, float]:
    """Pooled metrics (:func:`deepdrim.metrics.summary` and the early precision ratio) of
    ``column`` over the tested rows, plus ``fold{k}/<name>`` of :data:`HEADLINE` per fold that holds
    both classes."""
    predictions = tested(predictions)
    metrics = dict(summary(predictions.tf, predictions.label, predictions[column]))
    metrics["epr"] = early_precision_ratio(predictions.label, predictions[column])
    for k, fold in predictions.groupby("fold"):
        if fold.label.nunique() == 2:
            for name, value in summary(fold.tf, fold.label, fold[column]).items():
                if name in HEADLINE:
                    metrics[f"fold{k}/{name}"] = value
    return metrics


def auroc_interval(result: CrossValidation, n_resamples: int = 1000, random_state=None) -> dict[str, float]:
    """``auroc_ci_low`` / ``auroc_ci_high``: the 95% percentile bootstrap interval of the scorer's
    AUROC over TFs (:func:`deepdrim.metrics.bootstrap_auroc_ci`), over the pairs with a finite score;
    {} when they hold one class only."""
    done = result.tested()
    finite = done[np.isfinite(done.score)]
    if finite.label.nunique() != 2:
        return {}
    ci = bootstrap_auroc_ci(finite.tf.to_numpy(), finite.label.to_numpy(), finite.score.to_numpy(),
                            n_resamples=n_resamples, random_state=random_state)
    return {"auroc_ci_low": ci.low, "auroc_ci_high": ci.high}


def link_probabilities(scores) -> np.ndarray:
    """1-D link probabilities from ``predict_proba``'s output: (P,) as is, (P, 2) its column 1."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 2 and scores.shape[1] == 2:
        return scores[:, 1]
    if scores.ndim != 1:
        raise ValueError(f"predict_proba returned shape {scores.shape}; expected (P,) or (P, 2)")
    return scores


def _baseline(scorer: Scorer) -> Optional[Callable]:
    """The unsupervised scoring function ``scorer`` names or is; None for a fittable estimator."""
    if isinstance(scorer, str):
        if scorer not in BASELINES:
            raise ValueError(f"unknown baseline {scorer!r}; known: {', '.join(BASELINES)}")
        return BASELINES[scorer]
    if hasattr(scorer, "fit") and hasattr(scorer, "predict_proba"):
        return None
    if callable(scorer):
        return scorer
    raise ValueError(f"scorer must be an estimator with fit/predict_proba, a baseline function or a baseline "
                     f"name, got {type(scorer).__name__}")


def cross_validate(scorer: Scorer, expression, pairs, labels, *, gene_names=None, kinds=None, n_folds: int = 3,
                   split: str = "tf", random_state: int = 0,
                   train_subset: Optional[Callable[[np.ndarray, int], np.ndarray]] = None,
                   on_epoch: Optional[Callable[[int, int, dict], None]] = None,
                   on_fold: Optional[Callable[[int, FoldReport], None]] = None, score: bool = True,
                   progress: Union[bool, str] = True) -> CrossValidation:
    """Out-of-fold scores of ``scorer`` on every labelled pair (module docstring), folds from
    :func:`deepdrim.cv.make_folds` (``split`` "tf" or "strict", seeded by ``random_state``).

    ``expression`` is cells x genes, ``pairs`` (P, 2) gene indices (TF, target), ``labels`` 0/1.
    An estimator is cloned per fold (same parameters, so same seed) and fitted on the fold's
    training pairs, cut by ``train_subset(train_index, fold)`` when given (e.g. a training
    fraction); a fold whose fit did not learn (the estimator's ``failure_``, or constant test
    scores) is reported in its :class:`FoldReport`. ``on_epoch(fold, epoch, logs)`` is called
    after each training epoch and ``on_fold(fold, report)`` after each fold's fit (an exception either
    raises, e.g. a pruner's, ends the cross-validation); ``score=False`` fits without scoring the
    test pairs (a search's inner loop: scores stay NaN); ``progress`` shows a bar (a string is its label)."""
    from sklearn.base import clone

    expression = np.asarray(expression)
    pairs = np.asarray(pairs)
    labels = np.asarray(labels)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or len(labels) != len(pairs):
        raise ValueError(f"pairs must be (P, 2) with one label each, got pairs {pairs.shape} and {len(labels)} labels")
    baseline = _baseline(scorer)
    folds = make_folds(pairs, n_folds, split, random_state=random_state)
    scores = np.full(len(pairs), np.nan)
    prior = np.full(len(pairs), np.nan)
    fold_of = np.full(len(pairs), -1)
    epochs = 1 if baseline is not None else int(getattr(scorer, "epochs", 1))
    if baseline is not None:  # scored once over all pairs, so GENIE3/GRNBoost2 regress on every TF
        scores = np.asarray(baseline(expression, pairs, random_state=random_state), dtype=np.float64)
    reports = []
    label = progress if isinstance(progress, str) else f"CV {len(pairs):,} pairs"
    refresh = 0.5 if sys.stderr.isatty() else 30.0  # a log file gets a line every 30 s, not every epoch
    with tqdm(total=len(folds) * epochs, desc=label, unit="fold" if baseline is not None else "epoch",
              leave=False, mininterval=refresh, disable=not progress) as bar:
        for k, (train, test, n_dropped) in enumerate(folds):
            fold_of[test] = k
            if train_subset is not None:
                train = train_subset(train, k)
            prior[test] = gene_prior_scores(pairs[train], labels[train], pairs[test], by="target")
            report = FoldReport(len(train), len(np.unique(pairs[train, 0])), len(test), int(n_dropped))
            reports.append(report)
            if baseline is not None:
                bar.update(1)
                continue

            def epoch_end(epoch, logs, k=k, n_train=len(train)):
                bar.update(1)
                bar.set_postfix(fold=f"{k + 1}/{len(folds)}", train_pairs=n_train, epoch=epoch + 1,
                                val_auroc=f"{logs.get('val_auroc', float('nan')):.3f}")
                if on_epoch is not None:
                    on_epoch(k, epoch, logs)

            model = clone(scorer, safe=False)  # an estimator without get_params is deep-copied
            with reported_per_fold():  # a fit that did not learn is the fold's line below
                model.fit(expression, pairs[train], labels[train], epoch_callback=epoch_end)
            bar.update(epochs * (k + 1) - bar.n)  # early stopping skips epochs
            report.failure = getattr(model, "failure_", None)
            report.history, report.best_epoch = getattr(model, "history_", {}), getattr(model, "best_epoch_", -1)
            if score:
                scores[test] = link_probabilities(model.predict_proba(pairs[test]))
                if report.failure is None and constant_scores(scores[test]):
                    report.failure = f"constant scores on the fold's {len(test)} test pairs"
            if report.failure:
                log.warning("fold %d did not learn: %s", k, report.failure)
            if on_fold is not None:
                on_fold(k, report)
    untested = fold_of < 0
    scores[untested] = np.nan  # strict: a pair no fold tests has no score
    pcc = BASELINES["pcc"](expression, pairs)
    pcc[untested] = np.nan
    target_mean = target_mean_scores(expression, pairs)
    target_mean[untested] = np.nan
    names = np.asarray(gene_names if gene_names is not None else np.arange(expression.shape[1]), dtype=object)
    predictions = pd.DataFrame({"tf": names[pairs[:, 0]], "target": names[pairs[:, 1]], "label": labels,
                                "kind": kinds if kinds is not None else "", "score": scores, "pcc": pcc,
                                "prior": prior, "target_mean": target_mean, "fold": fold_of})
    return CrossValidation(predictions, reports)


__all__ = ["CONTROLS", "CrossValidation", "FoldReport", "auroc_interval", "cross_validate", "fold_metrics", "link_probabilities", "tested"]
