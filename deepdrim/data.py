"""The one data object every reader and simulator returns and every job learns from, and the
labelled pairs it is given (all TFs of its network, or ``max_tfs`` of them drawn by seed)."""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, replace
from typing import Optional

import numpy as np
import pandas as pd

from deepdrim.pairs import LabelledPairs, labelled_pairs, reachability

logger = logging.getLogger(__name__)


def edge_table(tf, target, sign=None) -> pd.DataFrame:
    """Edges as the data object keeps them: columns ``tf``, ``target`` (gene names) and ``sign``
    (+1 activation, -1 repression, 0 unknown)."""
    tf, target = list(tf), list(target)
    sign = np.zeros(len(tf), dtype=np.int64) if sign is None else np.asarray(sign, dtype=np.int64)
    return pd.DataFrame({"tf": pd.Series(tf, dtype=object), "target": pd.Series(target, dtype=object),
                         "sign": sign})


@dataclass
class Dataset:
    """One expression matrix with its ground truth.

    ``expression``: cells x genes values (index = cell names, columns = gene names). ``edges``:
    ground-truth edges (:func:`edge_table`). ``tfs``: the regulators pairs are drawn for, in order of
    first appearance. ``source``: where it came from (and what was done to it). ``pseudotime``:
    BEELINE's ``PseudoTime.csv`` as read (kept, unused). ``pairs``: the labelled pairs (gene indices
    into ``expression``'s columns): given by the reference format, else made by :func:`with_pairs`.
    """

    expression: pd.DataFrame
    edges: pd.DataFrame
    tfs: list
    source: str = ""
    pseudotime: Optional[pd.DataFrame] = None
    pairs: Optional[LabelledPairs] = None

    @property
    def gene_names(self) -> list:
        return list(self.expression.columns)

    @property
    def edge_list(self) -> list[tuple]:
        """The edges as (tf, target) name tuples."""
        return list(zip(self.edges["tf"], self.edges["target"]))

    def pair_names(self, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gene names of (P, 2) index pairs: (tf names, target names)."""
        names = np.asarray(self.gene_names, dtype=object)
        return names[pairs[:, 0]], names[pairs[:, 1]]


def choose_tfs(tfs, max_tfs: Optional[int], seed: int) -> list:
    """``max_tfs`` of ``tfs`` drawn by ``seed`` (the paper trained on 18 random ChIP-seq TFs per cell
    type), in sorted name order so the draw does not depend on the network file's row order; all
    of them when ``max_tfs`` is None. ``ValueError`` when ``max_tfs`` exceeds the TFs there are."""
    names = sorted(dict.fromkeys(tfs), key=str)
    if max_tfs is None:
        return names
    if isinstance(max_tfs, bool) or not isinstance(max_tfs, (int, np.integer)) or max_tfs < 1:
        raise ValueError(f"data.max_tfs must be an integer >= 1 or null, got {max_tfs!r}")
    if max_tfs > len(names):
        raise ValueError(f"data.max_tfs={max_tfs} but the network has {len(names)} TFs; use at most {len(names)} "
                         f"(or data.max_tfs=null for all)")
    rng = np.random.default_rng([int(seed), 0x7F5])  # its own stream: the pair draws keep theirs
    return sorted(rng.choice(np.asarray(names, dtype=object), size=int(max_tfs), replace=False).tolist(), key=str)


def reference_pairs(genes: list, table: pd.DataFrame) -> LabelledPairs:
    """Labelled pairs of a (``tf``, ``target``, ``label`` 0/1) table as given, with each pair's kind
    (``direct`` for label 1; ``transitive`` when the label-1 edges reach the target; ``random``)."""
    index = {g: i for i, g in enumerate(genes)}
    pairs = np.column_stack([table["tf"].map(index).to_numpy(), table["target"].map(index).to_numpy()]).astype(np.int64)
    labels = table["label"].to_numpy(dtype=np.int64)
    reach = np.isfinite(reachability(len(genes), pairs[labels == 1])[pairs[:, 0], pairs[:, 1]])
    return LabelledPairs(pairs, labels, np.where(labels == 1, "direct", np.where(reach, "transitive", "random")))


def _network_pairs(data: Dataset, negatives: str, max_tfs: Optional[int], seed: int) -> Dataset:
    """Pairs of the network's TFs (or ``max_tfs`` of them drawn by seed, with only their edges)."""
    if data.edges.empty:
        raise ValueError(f"{data.source}: the network has no edges between genes of the expression")
    tfs = list(data.tfs) if max_tfs is None else choose_tfs(data.tfs, max_tfs, seed)
    table = data.edges[data.edges["tf"].isin(set(tfs))]
    n_targets = table.groupby("tf")["target"].nunique()
    full = n_targets[n_targets >= len(data.gene_names) - 1]
    if len(full):
        raise ValueError(f"TF {full.index[0]!r} regulates every other gene: no negative pair is possible "
                         f"({len(full)} such TF(s)); remove it from the network")
    # every edge for the pairs' kinds (a target reached through an undrawn TF is still "transitive");
    # positives are the drawn TFs' edges only
    with warnings.catch_warnings(record=True) as said:  # the pair builder's warnings, as one log line each
        warnings.simplefilter("always")
        pairs = labelled_pairs(tfs, data.gene_names, data.edge_list, negatives=negatives, random_state=seed)
    for warning in said:
        logger.warning("%s: %s", data.source, warning.message)
    if len(np.unique(pairs.labels)) < 2:
        raise ValueError(f"{data.source}: the network gives only one class of pairs")
    if max_tfs is None:
        logger.info("%s: %d TFs, %d labelled pairs (%d positive)", data.source, len(tfs), len(pairs),
                    int(pairs.labels.sum()))
    else:
        logger.info("%s: data.max_tfs=%d of %d TFs (seed %d): %s -> %d labelled pairs (%d positive) of %d edges",
                    data.source, len(tfs), len(data.tfs), seed, ", ".join(map(str, tfs)), len(pairs),
                    int(pairs.labels.sum()), len(data.edges))
    return replace(data, edges=table.reset_index(drop=True), tfs=tfs, pairs=pairs)


def _given_pairs(data: Dataset, max_tfs: Optional[int], seed: int) -> Dataset:
    """The given pairs (reference format), of ``max_tfs`` TFs drawn by seed when set."""
    if len(np.unique(data.pairs.labels)) < 2:
        raise ValueError(f"{data.source}: the pair file holds only label {int(data.pairs.labels[0])}; need 0 and 1")
    if max_tfs is None:
        return data
    names = np.asarray(data.gene_names, dtype=object)
    tfs = choose_tfs(data.tfs, max_tfs, seed)
    keep = np.isin(names[data.pairs.pairs[:, 0]], np.asarray(tfs, dtype=object))
    pairs = LabelledPairs(data.pairs.pairs[keep], data.pairs.labels[keep], data.pairs.kind[keep])
    if len(np.unique(pairs.labels)) < 2:
        raise ValueError(f"{data.source}: the pairs of the data.max_tfs={max_tfs} TFs drawn hold one class only")
    logger.info("%s: data.max_tfs=%d of %d TFs (seed %d): %s -> %d labelled pairs (%d positive)", data.source,
                len(tfs), len(data.tfs), seed, ", ".join(map(str, tfs)), len(pairs), int(pairs.labels.sum()))
    edges = data.edges[data.edges["tf"].isin(set(tfs))].reset_index(drop=True)
    return replace(data, edges=edges, tfs=tfs, pairs=pairs)


def with_pairs(data: Dataset, negatives: str = "balanced", max_tfs: Optional[int] = None, seed: int = 0) -> Dataset:
    """``data`` with its labelled pairs: the given ones (reference format) or the network's
    (:func:`deepdrim.pairs.labelled_pairs`), of ``max_tfs`` TFs drawn by ``seed`` when set; ``edges``
    and ``tfs`` then hold only the drawn TFs'. One-line ``ValueError`` when only one class is left."""
    if data.pairs is not None:
        return _given_pairs(data, max_tfs, seed)
    return _network_pairs(data, negatives, max_tfs, seed)


def check_varies(data: Dataset) -> Dataset:
    """Refuse expression in which no gene varies (all zero, or one value per gene): every pair image
    is then one pixel, training learns nothing and the AUROC of 0.5 would look like a result."""
    values = data.expression.to_numpy()
    if not len(values) or np.all(values == values[:1]):
        raise ValueError(f"{data.source}: no gene varies across cells (every gene has one value in all "
                         f"{len(values)} cells): nothing to learn from")
    return data


def direction_pairs(data: Dataset, seed: int, n_folds: int):
    """The data's TF pairs with their direction classes (:func:`deepdrim.direction.directed_pairs`,
    drawn by ``seed``); a one-line ``ValueError`` when the network has too few for ``n_folds`` folds."""
    from deepdrim.direction import directed_pairs

    if not data.tfs or data.edges.empty:
        raise ValueError(f"{data.source}: direction needs a network with TFs (data=sim, sergio, beeline or h5ad)")
    pairs = directed_pairs(data.tfs, data.gene_names, data.edge_list, random_state=seed)
    n_edges, n_none = int((pairs.classes == 1).sum()), int((pairs.classes == 0).sum()) // 2
    if n_edges < 2 * n_folds or n_none < n_folds:
        raise ValueError(f"{data.source}: only {n_edges} TF-TF edge(s) with one direction (and {n_none} TF pairs "
                         f"without an edge): {n_folds} folds need at least {2 * n_folds} edges and {n_folds} "
                         f"no-edge pairs; use data with more TFs")
    return pairs


__all__ = ["Dataset", "edge_table", "choose_tfs", "reference_pairs", "with_pairs", "check_varies", "direction_pairs"]
