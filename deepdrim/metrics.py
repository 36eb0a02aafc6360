"""AUROC/AUPRC overall and per TF (scikit-learn's definitions)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from deepdrim._validation import check_integer, check_real


def _pair(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores as 1-D arrays of one non-zero length (one-line ``ValueError`` otherwise)."""
    labels, scores = np.asarray(labels), np.asarray(scores)
    if labels.ndim != 1 or scores.shape != labels.shape or not len(labels):
        raise ValueError(f"labels and scores must be 1-D of one non-zero length, got {labels.shape} and {scores.shape}")
    return labels, scores


def auroc(labels, scores) -> float:
    """Area under the ROC curve (``sklearn.metrics.roc_auc_score``)."""
    return float(roc_auc_score(*_pair(labels, scores)))


def auprc(labels, scores) -> float:
    """Area under the precision-recall curve as average precision (``average_precision_score``)."""
    return float(average_precision_score(*_pair(labels, scores)))


@dataclass
class PerTFMetrics:
    """Per-TF AUROC/AUPRC table, its medians and how many TFs were skipped (one class only)."""

    table: pd.DataFrame
    median_auroc: float
    median_auprc: float
    n_skipped: int


def per_tf_metrics(tfs, labels, scores) -> PerTFMetrics:
    """AUROC/AUPRC for every TF that has both classes among its pairs; one-class TFs are skipped
    and counted."""
    frame = pd.DataFrame({"tf": np.asarray(tfs), "label": np.asarray(labels), "score": np.asarray(scores)})
    rows, skipped = [], 0
    for tf, group in frame.groupby("tf", sort=True):
        if group["label"].nunique() < 2:
            skipped += 1
            continue
        rows.append({"tf": tf, "n_pairs": len(group), "n_positive": int(group["label"].sum()),
                     "auroc": auroc(group["label"], group["score"]),
                     "auprc": auprc(group["label"], group["score"])})
    table = pd.DataFrame(rows, columns=["tf", "n_pairs", "n_positive", "auroc", "auprc"])
    median = (lambda col: float(table[col].median()) if len(table) else float("nan"))
    return PerTFMetrics(table, median("auroc"), median("auprc"), skipped)


def summary(tfs, labels, scores) -> dict[str, float]:
    """The four headline numbers: pooled AUROC/AUPRC and median per-TF AUROC/AUPRC."""
    per_tf = per_tf_metrics(tfs, labels, scores)
    return {"auroc": auroc(labels, scores), "auprc": auprc(labels, scores),
            "median_tf_auroc": per_tf.median_auroc, "median_tf_auprc": per_tf.median_auprc,
            "n_tfs_skipped": float(per_tf.n_skipped)}


def early_precision_ratio(labels, scores) -> float:
    """BEELINE's early precision ratio: precision among the top-k scored pairs (k = number of
    true edges; pairs tied with the k-th score are included), divided by the precision of a
    random ranking (the fraction of true edges)."""
    labels, scores = _pair(labels, scores)
    labels, scores = labels.astype(bool), scores.astype(np.float64)
    k = int(labels.sum())
    if k == 0 or k == len(labels):
        return float("nan")
    kth = np.sort(scores)[::-1][k - 1]
    top = scores >= kth
    return float(labels[top].mean() / labels.mean())


# ---------------------------------------------------------------------------------------------
# false positives at matched sensitivity (paper Fig. 1, without the 0.5 calibration dependence)


def _check_scored(labels, scores, kind=None) -> tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.ndim != 1 or scores.shape != labels.shape:
        raise ValueError(f"labels and scores must be 1-D of the same length, got {labels.shape} and {scores.shape}")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0/1")
    if np.isnan(scores).any():
        raise ValueError(f"scores has {int(np.isnan(scores).sum())} NaN value(s)")
    if kind is not None:
        kind = np.asarray(kind)
        if kind.shape != labels.shape:
            raise ValueError(f"kind must have the labels' shape {labels.shape}, got {kind.shape}")
    return labels.astype(bool), scores, kind


def sensitivity_threshold(labels, scores, sensitivity: float = 0.8) -> float:
    """The highest score threshold t at which calling ``scores >= t`` finds at least
    ``sensitivity`` of the positives: the ceil(sensitivity * n_pos)-th highest positive score."""
    check_real("sensitivity", sensitivity, 0, 1, low_open=True)
    labels, scores, _ = _check_scored(labels, scores)
    positives = np.sort(scores[labels])[::-1]
    if len(positives) == 0:
        raise ValueError("labels hold no positive: sensitivity is undefined")
    k = int(np.ceil(sensitivity * len(positives) - 1e-9))
    return float(positives[max(k, 1) - 1])


def relative_reduction(before: float, after: float) -> float:
    """Relative reduction ``1 - after / before`` (of false positives, say); NaN when ``before`` is 0."""
    return float(1.0 - after / before) if before > 0 else float("nan")


def false_positives_at_threshold(labels, scores, threshold: float, kind=None) -> dict[str, float]:
    """Calls ``scores >= threshold``: keys ``threshold``, ``tpr``, ``tp``, ``fp``, ``fpr`` and, with
    ``kind`` ('direct'/'transitive'/'random' per pair, as :class:`deepdrim.pairs.LabelledPairs`),
    ``fp_<kind>`` for each negative kind present."""
    labels, scores, kind = _check_scored(labels, scores, kind)
    called = scores >= threshold
    negatives = ~labels
    out = {"threshold": float(threshold), "tpr": float(called[labels].mean()) if labels.any() else float("nan"),
           "tp": float((called & labels).sum()), "fp": float((called & negatives).sum()),
           "fpr": float((called & negatives).sum() / negatives.sum()) if negatives.any() else float("nan")}
    if kind is not None:
        for name in np.unique(kind[negatives]):
            out[f"fp_{name}"] = float((called & negatives & (kind == name)).sum())
    return out


def false_positives_at_sensitivity(labels, scores, kind=None, sensitivity: float = 0.8) -> dict[str, float]:
    """:func:`false_positives_at_threshold` where this arm finds ``sensitivity`` of the positives
    (ties at the threshold are called; ``tpr`` is the achieved one, >= sensitivity)."""
    return false_positives_at_threshold(labels, scores, sensitivity_threshold(labels, scores, sensitivity), kind)


def fp_reduction_at_sensitivity(labels, reference_scores, arm_scores, kind=None,
                                sensitivity: float = 0.8) -> dict[str, float]:
    """Relative FP reduction ``1 - FP_arm / FP_reference`` with each arm thresholded at the
    same sensitivity (the fraction of positives it finds), overall (``fp_reduction``) and per
    negative kind (``fp_reduction_<kind>``); NaN where the reference makes no such FP. Also
    returns both arms' counts (``reference/fp``, ``arm/fp``, ...)."""
    reference = false_positives_at_sensitivity(labels, reference_scores, kind, sensitivity)
    arm = false_positives_at_sensitivity(labels, arm_scores, kind, sensitivity)
    out = {f"reference/{k}": v for k, v in reference.items()}
    out.update({f"arm/{k}": v for k, v in arm.items()})
    for key in (k for k in reference if k == "fp" or k.startswith("fp_")):
        suffix = key[2:]  # "" or "_<kind>"
        out[f"fp_reduction{suffix}"] = relative_reduction(reference[key], arm.get(key, 0.0))
    return out


# ---------------------------------------------------------------------------------------------
# uncertainty: bootstrap over TFs


@dataclass
class BootstrapCI:
    """A point estimate with a percentile bootstrap interval and how many resamples had both
    classes (the others are skipped)."""

    estimate: float
    low: float
    high: float
    level: float
    n_resamples: int


def _weighted_auroc(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUROC (ties count 1/2) of each row of ``weights`` (B, P) as per-pair multiplicities."""
    _, group = np.unique(scores, return_inverse=True)  # tie groups in increasing score
    group = group.ravel()
    n_groups = group.max() + 1 if len(group) else 0
    neg_w = weights * ~labels
    pos_w = weights * labels
    order = np.argsort(group, kind="stable")
    starts = np.searchsorted(group[order], np.arange(n_groups))
    neg_by_group = np.add.reduceat(neg_w[:, order], starts, axis=1)  # (B, G) negatives per tie group
    below = np.cumsum(neg_by_group, axis=1) - neg_by_group
    beaten = below[:, group] + 0.5 * neg_by_group[:, group]  # (B, P) negatives under each pair
    total = pos_w.sum(axis=1) * neg_w.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, (pos_w * beaten).sum(axis=1) / total, np.nan)


def bootstrap_auroc_ci(tfs, labels, scores, n_resamples: int = 1000, level: float = 0.95,
                       random_state=None) -> BootstrapCI:
    """AUROC with a percentile CI from resampling TFs with replacement (all pairs of a drawn TF
    come along, as often as it is drawn), since pairs of one TF are not independent. Seeded;
    resamples with one class only are skipped."""
    check_integer("n_resamples", n_resamples, 1)
    if isinstance(level, bool) or not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    labels, scores, _ = _check_scored(labels, scores)
    tfs = np.asarray(tfs)
    if tfs.shape != labels.shape:
        raise ValueError(f"tfs must have the labels' shape {labels.shape}, got {tfs.shape}")
    if labels.all() or not labels.any():
        raise ValueError("labels hold one class only: AUROC is undefined")
    _, tf_index = np.unique(tfs, return_inverse=True)
    tf_index = tf_index.ravel()
    n_tfs = tf_index.max() + 1
    rng = np.random.default_rng(random_state)
    values = []
    for start in range(0, n_resamples, 256):  # batches of resamples bound memory
        size = min(256, n_resamples - start)
        drawn = rng.integers(0, n_tfs, size=(size, n_tfs))
        counts = np.zeros((size, n_tfs))
        np.add.at(counts, (np.repeat(np.arange(size), n_tfs), drawn.ravel()), 1.0)
        values.append(_weighted_auroc(labels, scores, counts[:, tf_index]))
    values = np.concatenate(values)
    values = values[np.isfinite(values)]
    alpha = (1 - level) / 2
    low, high = (np.quantile(values, [alpha, 1 - alpha]) if len(values) else (np.nan, np.nan))
    return BootstrapCI(auroc(labels, scores), float(low), float(high), float(level), int(len(values)))
