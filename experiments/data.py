"""Turn a ``data`` config into expression + labelled pairs (the simulator is the default)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from deepdrim.pairs import LabelledPairs, labelled_pairs

DATA_KINDS = ("sim",)


@dataclass
class JobData:
    """What a job learns from: expression (cells x genes, gene-named columns), the labelled pairs
    (gene indices into its columns) and where it came from."""

    expression: pd.DataFrame
    pairs: LabelledPairs
    source: str
    tfs: Optional[list] = None
    edges: Optional[list] = None

    @property
    def gene_names(self) -> list:
        return list(self.expression.columns)

    def pair_names(self, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        names = np.asarray(self.gene_names, dtype=object)
        return names[pairs[:, 0]], names[pairs[:, 1]]


def simulated(cfg: dict, seed: int) -> JobData:
    """The embedded GRN simulation and its pairs."""
    from sim.grn import simulate_grn

    params = {k: v for k, v in cfg.items() if k not in ("kind", "negatives")}
    if "regulators_per_gene" in params:
        params["regulators_per_gene"] = tuple(params["regulators_per_gene"])
    dataset = simulate_grn(**params, random_state=seed)
    pairs = labelled_pairs(dataset.tfs, dataset.gene_names, dataset.edge_names,
                           negatives=cfg.get("negatives", "balanced"), random_state=seed)
    return JobData(dataset.expression, pairs, f"sim.grn seed={seed}", dataset.tfs, dataset.edge_names)


def load(cfg: dict, seed: int) -> JobData:
    """Dispatch on ``data.kind``."""
    kind = cfg.get("kind", "sim")
    if kind == "sim":
        return simulated(cfg, seed)
    raise ValueError(f"unknown data kind {kind!r}; known: {', '.join(DATA_KINDS)}")
