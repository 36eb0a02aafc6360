"""TF-aware cross-validation: every pair of one TF (the first gene) falls in the same fold."""
from __future__ import annotations

import numpy as np


def tf_aware_folds(pairs, n_folds: int = 3, random_state=None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train_index, test_index) per fold; TFs are shuffled (seeded) then each goes, largest
    first, to the fold with the fewest pairs so far, which balances fold sizes by pair count."""
    pairs = np.asarray(pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError(f"pairs must have shape (P, 2), got {pairs.shape}")
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    tfs, inverse, sizes = np.unique(pairs[:, 0], return_inverse=True, return_counts=True)
    if len(tfs) < 2:
        raise ValueError(f"TF-aware cross-validation needs at least 2 TFs, got {len(tfs)}")
    if len(tfs) < n_folds:
        raise ValueError(f"{n_folds} TF-aware folds need at least {n_folds} TFs, got {len(tfs)}")
    rng = np.random.default_rng(random_state)
    order = rng.permutation(len(tfs))
    order = order[np.argsort(-sizes[order], kind="stable")]
    fold_of_tf = np.empty(len(tfs), dtype=np.int64)
    load = np.zeros(n_folds, dtype=np.int64)
    for tf in order:  # loop over TFs, not pairs
        fold = int(np.argmin(load))
        fold_of_tf[tf] = fold
        load[fold] += sizes[tf]
    fold_of_pair = fold_of_tf[inverse.ravel()]
    all_index = np.arange(len(pairs))
    return [(all_index[fold_of_pair != k], all_index[fold_of_pair == k]) for k in range(n_folds)]


def tf_validation_split(pairs, labels, fraction: float = 0.2, random_state=None, max_tries: int = 50):
    """(train_index, val_index) holding out about ``fraction`` of the TFs, both classes in each
    side; ``None`` when no such split exists (fewer than 2 TFs or single-class TFs only)."""
    pairs = np.asarray(pairs)
    labels = np.asarray(labels)
    tfs = np.unique(pairs[:, 0])
    if len(tfs) < 2:
        return None
    rng = np.random.default_rng(random_state)
    n_val = min(max(1, int(round(fraction * len(tfs)))), len(tfs) - 1)
    for _ in range(max_tries):
        val_tfs = rng.choice(tfs, size=n_val, replace=False)
        is_val = np.isin(pairs[:, 0], val_tfs)
        if len(np.unique(labels[is_val])) == 2 and len(np.unique(labels[~is_val])) == 2:
            return np.flatnonzero(~is_val), np.flatnonzero(is_val)
    return None
