"""Ranking every candidate edge of a dataset (each TF against every other gene, scored chunk by
chunk) and BEELINE's output format for it: ``rankedEdges.csv``, which every BEELINE evaluation script reads."""
from __future__ import annotations

from pathlib import Path

from typing import Iterator

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from deepdrim.data import Dataset
from deepdrim.files import write_csv
from deepdrim.metrics import summary

RANKED_EDGES_HEADER = ("Gene1", "Gene2", "EdgeWeight")
#: candidate pairs scored per chunk (bounds the pair/score arrays in flight, not the output)
CHUNK_PAIRS = 50_000


def candidate_tfs(data: Dataset) -> np.ndarray:
    """Column indices of the TFs to rank targets for: the data's TFs (the ground truth's
    regulators), else the first genes of its labelled pairs."""
    if data.tfs:
        index = {g: i for i, g in enumerate(data.gene_names)}
        return np.array(sorted({index[t] for t in data.tfs if t in index}), dtype=np.int64)
    return np.unique(data.pairs.pairs[:, 0])


def candidate_chunks(tfs: np.ndarray, n_genes: int, chunk_pairs: int = CHUNK_PAIRS) -> Iterator[np.ndarray]:
    """(P, 2) int64 blocks of (TF, gene) for every TF and every other gene, TF by TF in order,
    each block holding about ``chunk_pairs`` pairs (whole TFs)."""
    per_chunk = max(1, chunk_pairs // max(n_genes - 1, 1))
    genes = np.arange(n_genes, dtype=np.int64)
    for start in range(0, len(tfs), per_chunk):
        block = tfs[start:start + per_chunk]
        a = np.repeat(block, n_genes)
        b = np.tile(genes, len(block))
        keep = a != b
        yield np.column_stack([a[keep], b[keep]])


def score_candidates(score, tfs: np.ndarray, n_genes: int, label: str,
                     chunk_pairs: int = CHUNK_PAIRS) -> tuple[np.ndarray, np.ndarray]:
    """All candidate pairs (P, 2) and their scores, computed chunk by chunk with ``score(pairs)``."""
    pairs, scores = [], []
    total = len(tfs) * (n_genes - 1)
    with tqdm(total=total, desc=f"predict {label}", unit="pair", leave=False) as bar:
        for chunk in candidate_chunks(tfs, n_genes, chunk_pairs):
            pairs.append(chunk.astype(np.int32))
            scores.append(np.asarray(score(chunk), dtype=np.float64))
            bar.update(len(chunk))
    return np.concatenate(pairs).astype(np.int64), np.concatenate(scores)


def labelled_metrics(data: Dataset, pairs: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """AUROC/AUPRC of the ranking on the data's labelled pairs, prefixed ``labelled/``. When the
    model trained on those pairs these numbers are in-sample (optimistic), not a test score."""
    n_genes = data.expression.shape[1]
    keys = pairs[:, 0] * n_genes + pairs[:, 1]
    order = np.argsort(keys)
    wanted = data.pairs.pairs[:, 0] * n_genes + data.pairs.pairs[:, 1]
    at = np.clip(np.searchsorted(keys, wanted, sorter=order), 0, len(keys) - 1)
    found = keys[order[at]] == wanted
    labels = data.pairs.labels[found]
    if len(np.unique(labels)) < 2:
        return {}
    tf_names, _ = data.pair_names(data.pairs.pairs[found])
    values = summary(tf_names, labels, scores[order[at[found]]])
    return {f"labelled/{k}": v for k, v in values.items() if k != "n_tfs_skipped"}


def write_ranked_edges(path, tf, target, weight) -> Path:
    """Write BEELINE's ``rankedEdges.csv``: tab-separated, header ``Gene1\\tGene2\\tEdgeWeight``,
    rows by weight descending (ties keep their input order), no index column.

    Written atomically (:func:`deepdrim.files.atomic_write`), so readers see the old file or the
    complete new one, and nothing is written when the input is invalid.
    Returns the path written.
    """
    path = Path(path)
    tf = [str(g) for g in np.asarray(tf, dtype=object).ravel()]
    target = [str(g) for g in np.asarray(target, dtype=object).ravel()]
    try:
        weight = np.asarray(weight, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise ValueError("weight must be numeric") from None
    if not len(tf) == len(target) == len(weight):
        raise ValueError(
            f"tf, target and weight must have the same length, got {len(tf)}, {len(target)}, {len(weight)}"
        )
    if np.isnan(weight).any():
        raise ValueError(f"weight has {int(np.isnan(weight).sum())} NaN value(s)")
    bad = [g for g in tf + target if not g or any(c in g for c in "\t\r\n")]
    if bad:
        raise ValueError(f"{len(bad)} gene name(s) empty or holding a tab or newline, e.g. {bad[:1]!r}")
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"output folder not found: {folder}")
    order = np.argsort(-weight, kind="stable")
    gene1, gene2 = np.asarray(tf, dtype=object)[order], np.asarray(target, dtype=object)[order]
    table = pd.DataFrame(dict(zip(RANKED_EDGES_HEADER, (gene1, gene2, weight[order]))))
    return write_csv(table, path, sep="\t", lineterminator="\n")
