"""Shared input checks: each raises a one-line ``ValueError`` that names the problem."""
from __future__ import annotations

from typing import Optional

import numpy as np


def check_expression(expression, *, allow_negative: bool = False) -> tuple[np.ndarray, Optional[list]]:
    """Cells x genes float array (plus gene names when a DataFrame with named columns is given)."""
    gene_names = None
    if hasattr(expression, "columns") and hasattr(expression, "to_numpy"):
        gene_names = [str(c) for c in expression.columns]
        values = expression.to_numpy()
    else:
        values = np.asarray(expression)
    if values.ndim != 2:
        raise ValueError(f"expression must be a 2-D cells x genes array, got {values.ndim} dimension(s)")
    try:
        values = values.astype(np.float64, copy=False)
    except (TypeError, ValueError):
        raise ValueError("expression must be numeric") from None
    if values.shape[0] < 2:
        raise ValueError(f"expression needs at least 2 cells, got {values.shape[0]}")
    if values.shape[1] < 2:
        raise ValueError(f"expression needs at least 2 genes, got {values.shape[1]}")
    if np.isnan(values).any():
        raise ValueError(f"expression has {int(np.isnan(values).sum())} NaN value(s)")
    if not np.isfinite(values).all():
        raise ValueError("expression has infinite value(s)")
    if not allow_negative and (values < 0).any():
        raise ValueError(f"expression has {int((values < 0).sum())} negative count(s); counts must be >= 0")
    if gene_names is not None and len(set(gene_names)) != len(gene_names):
        raise ValueError("expression has duplicate gene names")
    return values, gene_names


def check_pairs(pairs, n_genes: int, gene_names: Optional[list] = None) -> np.ndarray:
    """(P, 2) int64 gene indices; gene-name tuples are looked up in ``gene_names``."""
    if gene_names is not None and len(pairs) and isinstance(np.asarray(pairs, dtype=object).ravel()[0], str):
        index = {name: i for i, name in enumerate(gene_names)}
        flat = [str(g) for pair in pairs for g in pair]
        unknown = sorted({g for g in flat if g not in index})
        if unknown:
            raise ValueError(f"pairs name {len(unknown)} gene(s) not in the expression, e.g. {unknown[:3]}")
        pairs = np.array([index[g] for g in flat], dtype=np.int64).reshape(-1, 2)
    arr = np.asarray(pairs)
    if arr.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"pairs must have shape (P, 2), got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise ValueError("pairs must be integer gene indices (or gene-name tuples with a DataFrame)")
    arr = arr.astype(np.int64)
    bad = (arr < 0) | (arr >= n_genes)
    if bad.any():
        raise ValueError(f"pairs hold {int(bad.sum())} index(es) out of range 0..{n_genes - 1}")
    same = arr[:, 0] == arr[:, 1]
    if same.any():
        raise ValueError(f"pairs hold {int(same.sum())} pair(s) of a gene with itself (g, g)")
    return arr


def check_labels(labels, n_pairs: int) -> np.ndarray:
    """0/1 int labels of the right length with both classes present."""
    y = np.asarray(labels)
    if y.ndim != 1 or y.shape[0] != n_pairs:
        raise ValueError(f"labels must have length {n_pairs} (one per pair), got shape {y.shape}")
    if y.dtype.kind not in "biuf" or not np.isin(y, [0, 1]).all():
        raise ValueError("labels must be 0 or 1")
    y = y.astype(np.int64)
    if len(np.unique(y)) < 2:
        raise ValueError(f"labels hold a single class ({int(y[0])}); need both positives and negatives")
    return y


def _describe(kind: str, low, high, low_open: bool, high_open: bool) -> str:
    """'an integer in [2, 255]', 'a number > 0', ...: the expected range of a message."""
    if low is not None and high is not None:
        return f"{kind} in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f"{kind} {'>' if low_open else '>='} {low}"
    if high is not None:
        return f"{kind} {'<' if high_open else '<='} {high}"
    return kind


def check_real(name: str, value, low: Optional[float] = None, high: Optional[float] = None, *,
               low_open: bool = False, high_open: bool = False, nullable: bool = False,
               integer_only: bool = False):
    """``value`` within the bounds (open where said): a finite number, an int for ``integer_only``
    (a bool, a string or 1.7 is refused); None passes when ``nullable``. Returned as a float (an int)."""
    if value is None and nullable:
        return None
    kinds = (int, np.integer) if integer_only else (int, float, np.integer, np.floating)
    ok = not isinstance(value, (bool, np.bool_)) and isinstance(value, kinds)
    ok = ok and (not isinstance(value, (float, np.floating)) or bool(np.isfinite(value)))  # NaN, inf
    ok = ok and (low is None or (value > low if low_open else value >= low))
    ok = ok and (high is None or (value < high if high_open else value <= high))
    if not ok:
        expected = _describe("an integer" if integer_only else "a number", low, high, low_open, high_open)
        raise ValueError(f"{name} must be {expected}{' or null' if nullable else ''}, got {value!r}")
    return value if integer_only else float(value)


def check_integer(name: str, value, minimum: int = 0, maximum: Optional[int] = None, *,
                  nullable: bool = False) -> Optional[int]:
    """``value`` as an int in ``[minimum, maximum]`` (:func:`check_real` with ``integer_only``)."""
    value = check_real(name, value, minimum, maximum, integer_only=True, nullable=nullable)
    return None if value is None else int(value)


def check_choice(name: str, value, options) -> str:
    """``value`` is one of ``options``."""
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(str, options))}, got {value!r}")
    return value


def check_flag(name: str, value) -> bool:
    """``value`` is a bool (not 0/1, not the string 'yes')."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return bool(value)


def check_text(name: str, value, nullable: bool = False) -> Optional[str]:
    """``value`` is a non-empty string (None passes when ``nullable``)."""
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string{' or null' if nullable else ''}, got {value!r}")
    return value


def check_sizes(name: str, value, minimum: int = 1) -> tuple:
    """A non-empty list or tuple of integers >= ``minimum`` (layer widths); a string is not one."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or not len(value) or any(
            isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum for v in value):
        raise ValueError(f"{name} must be a non-empty sequence of integers >= {minimum}, got {value!r}")
    return tuple(int(v) for v in value)


def check_neighbors(name: str, value, n_genes: Optional[int] = None, minimum: int = 0) -> int:
    """Neighbors per gene (n of the paper): an integer >= ``minimum`` that fits the data, at most
    ``n_genes - 2`` other genes besides the pair's two (0, CNNC, fits any data)."""
    value = check_integer(name, value, minimum)
    if value and n_genes is not None and value > n_genes - 2:
        raise ValueError(f"{name}={value} needs at least {value + 2} genes; the data has {n_genes}")
    return value
