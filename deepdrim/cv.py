"""Cross-validation folds over gene pairs.

``split="tf"`` (:func:`tf_aware_folds`, the paper's): every pair of one TF (the first gene) falls
in the same fold, but a test pair's *target* may head or end training pairs, so a model can score
it by the target's identity alone. ``split="strict"`` (:func:`strict_folds`): every gene belongs
to one fold; a fold tests the pairs with both genes in it and trains on the pairs with neither,
so no gene (as TF or as target) is on both sides. Pairs spanning two folds are dropped from the
training set of each of those folds and are never tested.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from deepdrim._validation import check_choice, check_integer, check_real
from deepdrim.choices import SPLITS

#: the fewest TFs (groups) a validation split may hold for model selection: one TF's AUROC is noise.
#: :func:`tf_validation_split` raises a smaller split to this many TFs when the training pairs have
#: at least twice as many; with fewer TFs the estimator trains a fixed epoch budget (last epoch)
MIN_VALIDATION_TFS = 4


class Fold(NamedTuple):
    """One fold: training and test pair indices, and how many pairs neither trains nor tests."""

    train: np.ndarray
    test: np.ndarray
    n_dropped: int


def _check_folds(pairs, n_folds, what: str) -> np.ndarray:
    pairs = np.asarray(pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError(f"pairs must have shape (P, 2), got {pairs.shape}")
    check_integer("n_folds", n_folds, 2)
    n_tfs = len(np.unique(pairs[:, 0]))
    if n_tfs < 2:
        raise ValueError(f"{what} cross-validation needs at least 2 TFs, got {n_tfs}")
    if n_tfs < n_folds:
        raise ValueError(f"{n_folds} {what} folds need at least {n_folds} TFs, got {n_tfs}")
    return pairs


def _tf_fold_of_pair(pairs: np.ndarray, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold of each pair's TF: TFs shuffled (seeded), then each, largest first, to the fold with
    the fewest pairs so far, which balances fold sizes by pair count."""
    tfs, inverse, sizes = np.unique(pairs[:, 0], return_inverse=True, return_counts=True)
    order = rng.permutation(len(tfs))
    order = order[np.argsort(-sizes[order], kind="stable")]
    fold_of_tf = np.empty(len(tfs), dtype=np.int64)
    load = np.zeros(n_folds, dtype=np.int64)
    for tf in order:  # loop over TFs, not pairs
        fold = int(np.argmin(load))
        fold_of_tf[tf] = fold
        load[fold] += sizes[tf]
    return fold_of_tf[inverse.ravel()]


def tf_aware_folds(pairs, n_folds: int = 3, random_state=None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train_index, test_index) per fold; TFs are shuffled (seeded) then each goes, largest
    first, to the fold with the fewest pairs so far, which balances fold sizes by pair count."""
    pairs = _check_folds(pairs, n_folds, "TF-aware")
    fold_of_pair = _tf_fold_of_pair(pairs, n_folds, np.random.default_rng(random_state))
    all_index = np.arange(len(pairs))
    return [(all_index[fold_of_pair != k], all_index[fold_of_pair == k]) for k in range(n_folds)]


def strict_folds(pairs, n_folds: int = 3, random_state=None) -> list[Fold]:
    """Folds disjoint in genes: no TF and no target of a test pair appears in any training pair.

    TFs are placed as in :func:`tf_aware_folds`. Every other gene then joins, most-paired first,
    the fold whose TFs it pairs with most (ties: the fold with the fewest test pairs so far), so
    most of a TF's pairs stay testable. Fold k tests the pairs with both genes in k and trains on
    the pairs with neither gene in k; ``Fold.n_dropped`` counts the rest (pairs touching fold k
    and another fold). Raises ``ValueError`` when a fold gets no test or no training pair.
    """
    pairs = _check_folds(pairs, n_folds, "strict")
    rng = np.random.default_rng(random_state)
    fold_of_pair_tf = _tf_fold_of_pair(pairs, n_folds, rng)
    genes, inverse = np.unique(pairs, return_inverse=True)
    inverse = inverse.reshape(pairs.shape)
    fold_of_gene = np.full(len(genes), -1, dtype=np.int64)
    fold_of_gene[inverse[:, 0]] = fold_of_pair_tf  # a TF's fold (also where it is a target)
    free = np.flatnonzero(fold_of_gene < 0)
    # votes[g, k]: pairs of gene g whose TF sits in fold k
    votes = np.zeros((len(genes), n_folds), dtype=np.int64)
    np.add.at(votes, (inverse[:, 1], fold_of_pair_tf), 1)
    order = free[rng.permutation(len(free))]
    order = order[np.argsort(-votes[order].sum(axis=1), kind="stable")]
    test_load = np.zeros(n_folds, dtype=np.int64)
    for gene in order:  # loop over genes, not pairs
        best = np.flatnonzero(votes[gene] == votes[gene].max())
        fold = int(best[np.argmin(test_load[best])])
        fold_of_gene[gene] = fold
        test_load[fold] += votes[gene, fold]
    fold_a, fold_b = fold_of_gene[inverse[:, 0]], fold_of_gene[inverse[:, 1]]
    folds = []
    for k in range(n_folds):
        test = np.flatnonzero((fold_a == k) & (fold_b == k))
        train = np.flatnonzero((fold_a != k) & (fold_b != k))
        if len(test) == 0 or len(train) == 0:
            side = "test" if len(test) == 0 else "training"
            raise ValueError(f"strict split impossible: fold {k} of {n_folds} gets no {side} pair "
                             f"({len(genes)} genes, {len(pairs)} pairs); use fewer folds or split='tf'")
        folds.append(Fold(train, test, int(len(pairs) - len(train) - len(test))))
    return folds


def make_folds(pairs, n_folds: int = 3, split: str = "tf", random_state=None) -> list[Fold]:
    """Folds of ``split`` ("tf": :func:`tf_aware_folds`, ``n_dropped`` = 0; "strict":
    :func:`strict_folds`) as :class:`Fold` triples, the one entry point a CV job needs."""
    if check_choice("split", split, SPLITS) == "strict":
        return strict_folds(pairs, n_folds, random_state)
    return [Fold(train, test, 0) for train, test in tf_aware_folds(pairs, n_folds, random_state)]


def dataset_folds(n_datasets: int, n_folds: int, seed: int) -> np.ndarray:
    """Fold index of each dataset (many small datasets, e.g. the GGM study's): a seeded
    permutation cut into ``n_folds`` near-equal parts, so all samples of a dataset share a fold."""
    check_integer("n_folds", n_folds, 2)
    parts = np.array_split(np.random.default_rng(seed).permutation(n_datasets), n_folds)
    fold = np.empty(n_datasets, dtype=np.int64)
    fold[np.concatenate(parts)] = np.repeat(np.arange(n_folds), [len(part) for part in parts])
    return fold


def tf_validation_split(pairs, labels, fraction: float = 0.2, random_state=None, max_tries: int = 50,
                        min_val_tfs: int = 1):
    """(train_index, val_index) holding out about ``fraction`` of the TFs, both classes in each
    side; ``None`` when no such split exists.

    The validation side holds ``round(fraction * n_tfs)`` TFs, but at least ``min_val_tfs`` when
    the training pairs have ``2 * min_val_tfs`` TFs or more (then at least as many TFs still
    train): model selection on fewer TFs is noise, so a fold of the default data (15-16 training
    TFs, ``fraction`` 0.2 -> 3) or of a BEELINE dataset with 16-30 TFs validates on
    ``min_val_tfs`` instead. ``None`` when there are fewer than 2 TFs, only single-class splits, or
    fewer than ``2 * min_val_tfs`` TFs and ``round(fraction * n_tfs) < min_val_tfs`` (the estimator
    passes :data:`MIN_VALIDATION_TFS` so that no model is selected on one TF; it then trains its
    fixed epoch budget and keeps the last epoch)."""
    check_real("fraction", fraction, 0, 1, low_open=True, high_open=True)
    check_integer("min_val_tfs", min_val_tfs, 1)
    pairs = np.asarray(pairs)
    labels = np.asarray(labels)
    tfs = np.unique(pairs[:, 0])
    if len(tfs) < 2:
        return None
    rng = np.random.default_rng(random_state)
    n_val = min(max(1, int(round(fraction * len(tfs)))), len(tfs) - 1)
    if n_val < min_val_tfs and len(tfs) >= 2 * min_val_tfs:
        n_val = min_val_tfs
    if n_val < min_val_tfs:
        return None
    for _ in range(max_tries):
        val_tfs = rng.choice(tfs, size=n_val, replace=False)
        is_val = np.isin(pairs[:, 0], val_tfs)
        if len(np.unique(labels[is_val])) == 2 and len(np.unique(labels[~is_val])) == 2:
            return np.flatnonzero(~is_val), np.flatnonzero(is_val)
    return None
