"""Values that neighbor genes are ranked on, and the neighbor lists they give.

The reference ranks a gene's neighbors by covariance of the expression *as loaded* (raw counts),
so a few highly expressed genes, whose counts have the largest variance, top almost every list.
Ranking on eq. 1 values or on library-size-normalised counts is offered beside it;
:class:`deepdrim.images.PairImageBuilder` computes its scores on whatever
:func:`neighbor_ranking_values` returns (``neighbor_scores(values, genes, score)``).
"""
from __future__ import annotations

import numpy as np

from deepdrim._validation import check_choice, check_expression, check_integer
from deepdrim.choices import NEIGHBOR_VALUES
from deepdrim.images import log_expression, neighbor_scores, top_positive_neighbors

#: raw: counts as loaded (the reference); log: paper eq. 1, log10(x + 0.01); library: counts
#: scaled to the median library size; library_log: log1p of those (the usual Scanpy/Seurat values).


def neighbor_ranking_values(expression, normalize: str = "raw") -> np.ndarray:
    """Cells x genes float64 values to rank neighbors on (see :data:`NEIGHBOR_VALUES`).

    A cell with no counts keeps zeros under the library options.
    """
    check_choice("normalize", normalize, NEIGHBOR_VALUES)
    values, _ = check_expression(expression)
    values = np.asarray(values, dtype=np.float64)
    if normalize == "raw":
        return values.copy()
    if normalize == "log":
        return log_expression(values).astype(np.float64)
    library = values.sum(axis=1, keepdims=True)
    target = float(np.median(library[library > 0])) if (library > 0).any() else 1.0
    scaled = np.divide(values * target, library, out=np.zeros_like(values), where=library > 0)
    return np.log1p(scaled) if normalize == "library_log" else scaled


def neighbor_lists(expression, n_neighbors: int = 10, normalize: str = "raw", score: str = "covariance",
                   genes=None) -> np.ndarray:
    """(len(genes), n_neighbors) gene indices: each gene's top positive-``score`` genes on the
    ``normalize`` values, best first, -1 where fewer positive ones exist (DeepDRIM's rule, before
    the pair's partner is skipped). ``genes`` defaults to every gene."""
    check_integer("n_neighbors", n_neighbors, 1)
    values = neighbor_ranking_values(expression, normalize)
    genes = np.arange(values.shape[1]) if genes is None else np.asarray(genes, dtype=np.int64)
    if n_neighbors >= values.shape[1]:
        raise ValueError(f"n_neighbors={n_neighbors} needs more than {n_neighbors} genes, got {values.shape[1]}")
    return top_positive_neighbors(neighbor_scores(values, genes, score), genes, n_neighbors)


def neighbor_relatedness(neighbors: np.ndarray, genes: np.ndarray, hops: np.ndarray, max_hops: int = 2,
                         n_hubs: int = 5) -> dict[str, float]:
    """How related to a gene its chosen neighbors are in a known network: ``related`` = share of
    filled slots whose gene is within ``max_hops`` of the row gene in ``hops`` (a genes x genes
    hop-count matrix, e.g. undirected shortest paths), ``chance`` = the same share over all other
    genes, ``hub_share`` = share of filled slots taken by the ``n_hubs`` most frequent neighbors,
    ``lists_with_hub`` = share of genes whose list holds one of those hubs, ``filled`` = share
    of slots filled."""
    neighbors = np.asarray(neighbors)
    genes = np.asarray(genes)
    filled = neighbors >= 0
    rows = np.repeat(genes, neighbors.shape[1]).reshape(neighbors.shape)
    near = hops[rows[filled], neighbors[filled]] <= max_hops
    others = ~np.eye(hops.shape[0], dtype=bool)[genes]
    counts = np.bincount(neighbors[filled], minlength=hops.shape[0])
    hubs = np.argsort(-counts, kind="stable")[:n_hubs]
    return {"related": float(near.mean()) if near.size else float("nan"),
            "chance": float((hops[genes] <= max_hops)[others].mean()),
            "hub_share": float(counts[hubs].sum() / max(filled.sum(), 1)),
            "lists_with_hub": float(np.isin(neighbors, hubs).any(axis=1).mean()),
            "filled": float(filled.mean())}


__all__ = ["neighbor_ranking_values", "neighbor_lists", "neighbor_relatedness"]
