"""Training pairs of a known network: positives (TF, target) and negatives (TF, non-target)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from deepdrim._validation import check_choice
from deepdrim.choices import NEGATIVE_MODES


@dataclass
class LabelledPairs:
    """Pairs (P, 2) of gene indices, labels (P,) 0/1 and kind (P,): 'direct', 'transitive'
    (the TF reaches the gene only through other genes) or 'random' (no path)."""

    pairs: np.ndarray
    labels: np.ndarray
    kind: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def _as_indices(items, index: dict, what: str) -> np.ndarray:
    items = list(items)
    if items and all(isinstance(x, (int, np.integer)) for x in np.ravel(np.asarray(items, dtype=object))):
        arr = np.asarray(items, dtype=np.int64)
        if arr.size and (arr.min() < 0 or arr.max() >= len(index)):
            raise ValueError(f"{what} hold indices outside 0..{len(index) - 1}")
        return arr
    flat = np.ravel(np.asarray(items, dtype=object))
    unknown = sorted({str(x) for x in flat if x not in index})
    if unknown:
        raise ValueError(f"{what} name {len(unknown)} gene(s) not in genes, e.g. {unknown[:3]}")
    return np.array([index[x] for x in flat], dtype=np.int64).reshape(np.shape(np.asarray(items, dtype=object)))


def reachability(n_genes: int, edges: np.ndarray) -> np.ndarray:
    """Directed hop count from every gene to every gene (inf where unreachable)."""
    if len(edges) == 0:
        dist = np.full((n_genes, n_genes), np.inf)
        np.fill_diagonal(dist, 0)
        return dist
    graph = csr_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n_genes, n_genes))
    return shortest_path(graph, directed=True, unweighted=True)


def labelled_pairs(tfs, genes, edges, negatives: str = "balanced", random_state=None) -> LabelledPairs:
    """Pairs of a network as the reference builds them.

    ``genes``: gene names (or an int count); ``tfs`` and ``edges`` (TF, target) name genes or are
    indices. Positives are the edges (self-loops dropped); ``negatives="balanced"`` draws, for
    each positive (TF, g), one random (TF, r) with no edge TF->r (without replacement within a
    TF); ``"all"`` takes every non-edge (TF, gene). Never a pair (g, g).
    """
    check_choice("negatives", negatives, NEGATIVE_MODES)
    names = list(range(genes)) if isinstance(genes, (int, np.integer)) else list(genes)
    index = {name: i for i, name in enumerate(names)}
    n_genes = len(names)
    tf_idx = np.unique(_as_indices(tfs, index, "tfs"))
    edge_idx = _as_indices(edges, index, "edges").reshape(-1, 2)
    edge_idx = np.unique(edge_idx[edge_idx[:, 0] != edge_idx[:, 1]], axis=0)
    is_edge = np.zeros((n_genes, n_genes), dtype=bool)
    is_edge[edge_idx[:, 0], edge_idx[:, 1]] = True
    hops = reachability(n_genes, edge_idx)
    rng = np.random.default_rng(random_state)
    out_pairs = []
    short = 0
    for tf in tf_idx:  # loop over TFs; pairs within a TF are vectorised
        targets = np.flatnonzero(is_edge[tf])
        candidates = np.flatnonzero(~is_edge[tf])
        candidates = candidates[candidates != tf]
        if negatives == "all":
            chosen = candidates
        else:
            n_neg = min(len(targets), len(candidates))
            short += len(targets) - n_neg
            chosen = rng.choice(candidates, size=n_neg, replace=False) if n_neg else candidates[:0]
        out_pairs.append(np.column_stack([np.full(len(targets), tf), targets, np.ones(len(targets), dtype=np.int64)]))
        out_pairs.append(np.column_stack([np.full(len(chosen), tf), np.sort(chosen), np.zeros(len(chosen), dtype=np.int64)]))
    if short:
        warnings.warn(f"{short} positive(s) got no balanced negative: their TF has too few non-targets", stacklevel=2)
    table = np.concatenate(out_pairs) if out_pairs else np.zeros((0, 3), dtype=np.int64)
    pairs, labels = table[:, :2].astype(np.int64), table[:, 2].astype(np.int64)
    reach = np.isfinite(hops[pairs[:, 0], pairs[:, 1]])
    kind = np.where(labels == 1, "direct", np.where(reach, "transitive", "random"))
    return LabelledPairs(pairs, labels, kind)
