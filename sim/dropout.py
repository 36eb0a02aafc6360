"""BoolODE's dropout step (``genDropouts``), used by the paper to degrade MAGIC-imputed data.

BoolODE (genes x cells) computes, per gene, the ``drop_cutoff`` quantile of its values across
cells (pandas ``quantile``, linear interpolation) and sets every value strictly below it to 0
with probability ``drop_prob``, one coin per entry. Here the matrix is cells x genes, so the
quantile is per column; the coins are one ``rng.random(values.shape)`` draw.
"""
from __future__ import annotations

from functools import partial
from typing import Union

import numpy as np
import pandas as pd

from deepdrim._validation import check_real

RandomState = Union[None, int, np.random.Generator]
#: each parameter's rule, check(name, value): boolode_dropout's checks, and run.py's of the same top-level keys
PARAMETERS = {"drop_prob": partial(check_real, low=0, high=1), "drop_cutoff": partial(check_real, low=0, high=1)}


def dropout_mask(values: np.ndarray, drop_prob: float, drop_cutoff: float, uniforms: np.ndarray) -> np.ndarray:
    """Boolean mask of entries BoolODE drops given the per-entry coins ``uniforms`` (same shape).

    An entry (cell, gene) is dropped iff value < (drop_cutoff quantile of the gene) and coin < drop_prob.
    """
    if drop_cutoff == 0.0:  # BoolODE skips the step; nothing is strictly below the minimum anyway
        return np.zeros(values.shape, dtype=bool)
    q = np.quantile(values, drop_cutoff, axis=0)  # linear, as pandas' default
    return (values < q[None, :]) & (uniforms < drop_prob)


def boolode_dropout(values, drop_prob: float, drop_cutoff: float, random_state: RandomState = None):
    """Masked copy of ``values`` (cells x genes array or DataFrame, same type back) by BoolODE's rule.

    Per gene, entries strictly below its ``drop_cutoff`` quantile become 0 with probability
    ``drop_prob``; ``drop_cutoff=0`` drops nothing. The input is never modified.
    """
    drop_prob = PARAMETERS["drop_prob"]("drop_prob", drop_prob)
    drop_cutoff = PARAMETERS["drop_cutoff"]("drop_cutoff", drop_cutoff)
    is_frame = isinstance(values, pd.DataFrame)
    arr = values.to_numpy() if is_frame else np.asarray(values)
    if arr.ndim != 2:
        raise ValueError(f"values must be a 2-D cells x genes matrix, got {arr.ndim} dimension(s)")
    if not (np.issubdtype(arr.dtype, np.number) and not np.issubdtype(arr.dtype, np.complexfloating)):
        raise ValueError(f"values must be real numbers, got dtype {arr.dtype}")
    if arr.shape[0] == 0:
        raise ValueError("values has no cells")
    if np.isnan(arr).any():
        raise ValueError(f"values has {int(np.isnan(arr).sum())} NaN value(s)")
    rng = np.random.default_rng(random_state)
    uniforms = rng.random(arr.shape)
    out = np.array(arr, copy=True)
    out[dropout_mask(arr, drop_prob, drop_cutoff, uniforms)] = 0
    if is_frame:
        return pd.DataFrame(out, index=values.index, columns=values.columns)
    return out


__all__ = ["boolode_dropout", "dropout_mask"]
