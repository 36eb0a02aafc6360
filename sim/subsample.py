"""Sub-sampling for the paper's robustness study: fewer cells of a template and smaller training sets."""
from __future__ import annotations

from functools import partial
from typing import Union

import numpy as np

from deepdrim._validation import check_real

RandomState = Union[None, int, np.random.Generator]
#: the rule of training_pairs' ``fraction`` (run.py's of ``train_fraction``), check(name, value)
TRAIN_FRACTION = partial(check_real, low=0, high=1, low_open=True)


def cells(expression, n_cells: int, random_state: RandomState = None):
    """``n_cells`` rows (cells) drawn without replacement, kept in their original order.

    Works for numpy arrays (rows copied) and DataFrames (index kept); seeded.
    """
    if isinstance(n_cells, bool) or not isinstance(n_cells, (int, np.integer)):
        raise ValueError(f"cells must be an integer, got {n_cells!r}")
    is_frame = hasattr(expression, "iloc") and hasattr(expression, "columns")
    arr = expression if is_frame else np.asarray(expression)
    if arr.ndim != 2:
        raise ValueError(f"expression must be a 2-D cells x genes matrix, got {arr.ndim} dimension(s)")
    n_total = arr.shape[0]
    if n_cells < 2:
        raise ValueError(f"cells must be at least 2, got {n_cells}")
    if n_cells > n_total:
        raise ValueError(f"cells={n_cells} is larger than the template ({n_total} cells)")
    rng = np.random.default_rng(random_state)
    keep = np.sort(rng.choice(n_total, size=int(n_cells), replace=False))
    return expression.iloc[keep].copy() if is_frame else arr[keep]


def training_pairs(train_index, labels, fraction: float, random_state: RandomState = None) -> np.ndarray:
    """Seeded class-stratified subset of ``train_index`` (``labels[k]`` is the label of ``train_index[k]``).

    Each class keeps max(1, round(fraction * its size)) pairs, in the original order. Stratified,
    not by whole TFs: it keeps the class balance and most training TFs represented, whereas
    dropping TFs would change the TF count. ``fraction=1`` returns ``train_index`` unchanged.
    """
    TRAIN_FRACTION("train_fraction", fraction)
    index = np.asarray(train_index)
    labels = np.asarray(labels)
    if index.ndim != 1 or labels.ndim != 1:
        raise ValueError("train_index and labels must be 1-D")
    if index.shape[0] != labels.shape[0]:
        raise ValueError(f"train_index has {index.shape[0]} entries but labels has {labels.shape[0]}")
    if index.shape[0] == 0:
        raise ValueError("train_index is empty")
    if fraction == 1:
        return index.copy()
    rng = np.random.default_rng(random_state)
    classes, cls = np.unique(labels, return_inverse=True)
    sizes = np.bincount(cls, minlength=classes.size)
    quota = np.maximum(1, np.floor(fraction * sizes + 0.5).astype(np.int64))
    order = np.lexsort((rng.random(index.shape[0]), cls))  # by class, random within class
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank = np.empty(index.shape[0], dtype=np.int64)
    rank[order] = np.arange(index.shape[0]) - starts[cls[order]]
    return index[rank < quota[cls]]


__all__ = ["cells", "training_pairs"]
