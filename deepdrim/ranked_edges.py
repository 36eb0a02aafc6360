"""BEELINE's output format: ``rankedEdges.csv``, the ranked regulator-target list every BEELINE
evaluation script reads."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

RANKED_EDGES_HEADER = ("Gene1", "Gene2", "EdgeWeight")


def write_ranked_edges(path, tf, target, weight) -> Path:
    """Write BEELINE's ``rankedEdges.csv``: tab-separated, header ``Gene1\\tGene2\\tEdgeWeight``,
    rows by weight descending (ties keep their input order), no index column.

    Written atomically (a temporary file in the same folder, then ``os.replace``), so readers see
    the old file or the complete new one, and nothing is written when the input is invalid.
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
    handle = tempfile.NamedTemporaryFile(
        "w", dir=folder, prefix=f".{path.name}.", suffix=".tmp", delete=False, newline=""
    )
    try:
        with handle:
            table.to_csv(handle, sep="\t", index=False, lineterminator="\n")
        os.replace(handle.name, path)
    except BaseException:
        os.unlink(handle.name)
        raise
    return path
