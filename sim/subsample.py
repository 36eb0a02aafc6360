"""Sub-sampling for the paper's robustness study: fewer cells of a template and smaller training sets."""
from __future__ import annotations

from functools import partial
from typing import Optional, Union

import numpy as np

from deepdrim._validation import check_real

RandomState = Union[None, int, np.random.Generator]
#: the rule of training_pairs' ``fraction`` (run.py's of ``train_fraction``), check(name, value)
TRAIN_FRACTION = partial(check_real, low=0, high=1, low_open=True)


def check_cells(name: str, value) -> None:
    """``cells`` is null, an integer count >= 2 or a fraction in (0, 1] (a float): the one rule of
    the robustness study's cell subsampling, for ``run.py``'s check and :func:`cells` alike."""
    if value is None:
        return
    count = isinstance(value, (int, np.integer))
    if isinstance(value, bool) or not (count or isinstance(value, float)) or count and value < 2:
        raise ValueError(f"{name} must be an integer count >= 2, a fraction in (0, 1] (a float) or null, got {value!r}")
    if isinstance(value, float) and not 0 < value <= 1:
        raise ValueError(f"{name}={value!r}: a float is a fraction of the data's cells and must be in (0, 1]; "
                         f"give a count as an integer")


def cell_count(cells, n_cells: int) -> Optional[int]:
    """How many cells ``cells`` keeps of ``n_cells``: None (all), the count itself, or a fraction's
    ``max(2, round(fraction * n_cells))``; a count above ``n_cells`` is a one-line ``ValueError``."""
    check_cells("cells", cells)
    if cells is None:
        return None
    if isinstance(cells, float):  # np.float64 too
        return min(n_cells, max(2, int(round(cells * n_cells))))
    if cells > n_cells:
        raise ValueError(f"cells={cells} is larger than the data ({n_cells} cells); sweep fractions of the data "
                         f"instead (cells=0.05,0.25,1.0: a float in (0, 1] is a fraction)")
    return int(cells)


def cells(expression, n_cells, random_state: RandomState = None):
    """``n_cells`` rows (cells) drawn without replacement, kept in their original order: a count,
    or a fraction of the rows (:func:`cell_count`); ``None`` keeps every row.

    Works for numpy arrays (rows copied) and DataFrames (index kept); seeded.
    """
    is_frame = hasattr(expression, "iloc") and hasattr(expression, "columns")
    arr = expression if is_frame else np.asarray(expression)
    if arr.ndim != 2:
        raise ValueError(f"expression must be a 2-D cells x genes matrix, got {arr.ndim} dimension(s)")
    n_total = arr.shape[0]
    keep = cell_count(n_cells, n_total)
    rng = np.random.default_rng(random_state)
    rows = np.arange(n_total) if keep is None else np.sort(rng.choice(n_total, size=keep, replace=False))
    return expression.iloc[rows].copy() if is_frame else arr[rows]


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


__all__ = ["cell_count", "cells", "check_cells", "training_pairs"]
