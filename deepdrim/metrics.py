"""AUROC/AUPRC overall and per TF (scikit-learn's definitions)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score


def auroc(labels, scores) -> float:
    """Area under the ROC curve (``sklearn.metrics.roc_auc_score``)."""
    return float(roc_auc_score(labels, scores))


def auprc(labels, scores) -> float:
    """Area under the precision-recall curve as average precision (``average_precision_score``)."""
    return float(average_precision_score(labels, scores))


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
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    k = int(labels.sum())
    if k == 0 or k == len(labels):
        return float("nan")
    kth = np.sort(scores)[::-1][k - 1]
    top = scores >= kth
    return float(labels[top].mean() / labels.mean())
