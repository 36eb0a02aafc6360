"""The paper's neighbor-image study (Fig. 1) on many small datasets: does context cut false positives?

Each sample is a gene pair of one small dataset (values (N, cells, genes)), labelled 1 (direct) or 0
(independent, of kind "transitive" or "random"). Three arms score every sample, each cross-validated
on the same dataset-level folds (:func:`deepdrim.cv.dataset_folds`: a dataset's pairs share a fold):

- ``primary``: the CNNC-like Network A (``n_neighbors=0``) on the 32x32 primary image;
- ``augmented``: the same network on the 96x96 augmented image (4-gene datasets only);
- ``deepdrim``: DeepDRIM itself (Network A + siamese Network B) on the primary image plus its neighbors.

Inputs come from :func:`deepdrim.multi_images.arm_inputs`, training from
:meth:`deepdrim.DeepDRIM.fit_images` (its early stopping, ``min_epochs`` and best-epoch rule, the
validation split drawn by dataset). :func:`study_metrics` counts false positives at 0.5 and at
matched sensitivity, split by negative kind, and their relative reduction against ``primary``.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

import numpy as np
import pandas as pd

from deepdrim.cv import dataset_folds
from deepdrim.metrics import (auprc, auroc, false_positives_at_sensitivity, false_positives_at_threshold,
                              fp_reduction_at_sensitivity, relative_reduction)
from deepdrim.multi_images import arm_inputs

ARMS = ("primary", "augmented", "deepdrim")
THRESHOLD = 0.5  # the paper counts false positives at a 0.5 link probability
NEGATIVE_KINDS = ("random", "transitive")


def cross_validate_arms(values, dataset, pairs, labels, kinds, *, n_neighbors: int, n_folds: int, seed: int,
                        estimator_params: Mapping[str, Any], n_bins: int = 32, neighbor_rule: str = "positive",
                        estimator: Optional[Callable[..., Any]] = None, progress: bool = True) -> pd.DataFrame:
    """Out-of-fold scores of every sample per arm (one column per arm, plus ``dataset``, ``gene_a``,
    ``gene_b``, ``label``, ``kind``, ``fold``). Each fold fits ``estimator(**estimator_params)``
    (default :class:`deepdrim.DeepDRIM`) with the arm's neighbors and image size, seeded
    ``seed * 1000 + arm index``, on its training datasets (``fit_images``, ``predict_proba_images``)."""
    from tqdm.auto import tqdm

    if estimator is None:
        from deepdrim.estimator import DeepDRIM as estimator

    dataset, pairs, labels = np.asarray(dataset), np.asarray(pairs), np.asarray(labels)
    inputs = arm_inputs(values, dataset, pairs, n_neighbors, n_bins, neighbor_rule)
    fold = dataset_folds(np.shape(values)[0], n_folds, seed)[dataset]
    frame = pd.DataFrame({"dataset": dataset, "gene_a": pairs[:, 0], "gene_b": pairs[:, 1], "label": labels,
                          "kind": kinds, "fold": fold})
    with tqdm(total=n_folds * len(inputs), desc="GGM CV", unit="fit", leave=False, disable=not progress) as bar:
        for i, (arm, x) in enumerate(inputs.items()):
            scores = np.full(len(labels), np.nan)
            for k in range(n_folds):  # one fit per fold
                train, test = fold != k, fold == k
                model = estimator(**{**estimator_params, "n_neighbors": n_neighbors if arm == "deepdrim" else 0,
                                     "n_bins": x.shape[-1], "random_state": seed * 1000 + i, "verbose": 0})
                model.fit_images(x[train], labels[train], groups=dataset[train])
                scores[test] = model.predict_proba_images(x[test])[:, 1]
                bar.update(1)
                bar.set_postfix(arm=arm, fold=k)
            frame[arm] = scores
    return frame


def study_metrics(predictions: pd.DataFrame, sensitivity: float = 0.8) -> dict[str, float]:
    """Per arm AUROC/AUPRC (also of the positives against transitive / random negatives only,
    ``<arm>/auroc_<kind>``), per-fold AUROC, TPs and FPs at 0.5 (``<arm>/fp``, ``..._<kind>``) and
    where the arm finds ``sensitivity`` of the positives (``<arm>/fp_matched``, ``..._<kind>``,
    ``<arm>/threshold_matched``, ``<arm>/tpr_matched``); the relative FP reductions of each arm vs
    primary at 0.5 (``fp_reduction/<arm>``, ``.../<arm>_transitive``) and at matched sensitivity
    (``fp_reduction_matched/<arm>``, ``.../<arm>_transitive``, ``..._random``)."""
    labels = predictions.label.to_numpy()
    kind = predictions.kind.to_numpy().astype(str)
    metrics: dict[str, float] = {"n_samples": float(len(labels)),
                                 **{f"n_negative_{name}": float((kind == name).sum()) for name in NEGATIVE_KINDS},
                                 "sensitivity": float(sensitivity)}
    arms = [arm for arm in ARMS if arm in predictions]
    for arm in arms:
        score = predictions[arm].to_numpy()
        for name in ("transitive", "random"):
            if (kind == name).any():
                keep = (labels == 1) | (kind == name)
                metrics[f"{arm}/auroc_{name}"] = auroc(labels[keep], score[keep])
        matched = false_positives_at_sensitivity(labels, score, kind, sensitivity)
        at_half = false_positives_at_threshold(labels, score, THRESHOLD, kind)
        metrics[f"{arm}/threshold_matched"] = matched["threshold"]
        metrics[f"{arm}/tpr_matched"] = matched["tpr"]
        for key in ("fp", *(f"fp_{name}" for name in NEGATIVE_KINDS)):
            metrics[f"{arm}/{key.replace('fp', 'fp_matched', 1)}"] = matched.get(key, 0.0)
            metrics[f"{arm}/{key}"] = at_half.get(key, 0.0)
        metrics[f"{arm}/auroc"] = auroc(labels, score)
        metrics[f"{arm}/auprc"] = auprc(labels, score)
        metrics[f"{arm}/tp"] = at_half["tp"]
        for k, part in predictions.groupby("fold"):
            metrics[f"{arm}/fold{k}/auroc"] = auroc(part.label, part[arm])
    for arm in arms[1:]:
        metrics[f"fp_reduction/{arm}"] = relative_reduction(metrics["primary/fp"], metrics[f"{arm}/fp"])
        metrics[f"fp_reduction/{arm}_transitive"] = relative_reduction(metrics["primary/fp_transitive"],
                                                                       metrics[f"{arm}/fp_transitive"])
        matched = fp_reduction_at_sensitivity(labels, predictions["primary"].to_numpy(), predictions[arm].to_numpy(),
                                              kind, sensitivity)
        for key in ("fp_reduction", "fp_reduction_transitive", "fp_reduction_random"):
            if key in matched:
                metrics[f"fp_reduction_matched/{arm}{key[len('fp_reduction'):]}"] = matched[key]
    return metrics


__all__ = ["ARMS", "THRESHOLD", "cross_validate_arms", "study_metrics"]
