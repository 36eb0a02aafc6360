"""The robustness study's degradations of a dataset, in the paper's order: cell subsampling ->
MAGIC imputation -> BoolODE dropout (the training fraction acts per fold, :func:`sim.subsample.training_pairs`)."""
from __future__ import annotations

from dataclasses import replace
from typing import Optional

import numpy as np
import pandas as pd

from deepdrim.data import Dataset
from sim.dropout import boolode_dropout
from sim.magic import magic_impute
from sim.subsample import cells as subsample_cells

#: magic.preprocess: MAGIC's count preprocessing when every value is whole (auto), always, never
PREPROCESS = ("auto", "counts", "none")


def magic_counts(preprocess: str, values: np.ndarray) -> bool:
    """Whether MAGIC's count preprocessing (library-size normalisation, square root) applies:
    ``counts`` / ``none`` force it; ``auto`` when every value is a whole number (counts), so that
    already-normalised values (BEELINE's log values) are not transformed a second time."""
    if preprocess == "auto":
        return bool(np.all(np.mod(values, 1.0) == 0))
    return preprocess == "counts"


def degrade(data: Dataset, *, cells: Optional[int] = None, magic: Optional[dict] = None, drop_prob: float = 0.0,
            drop_cutoff: float = 0.0, seed: int = 0, magic_cache=None, cells_text: Optional[str] = None) -> Dataset:
    """``data`` with ``cells`` cells drawn by seed, imputed by MAGIC (``magic``: its parameters plus
    ``preprocess``; None = off) and BoolODE dropout applied; a new object with the steps appended to
    its ``source`` (``cells_text`` names the cell step there), ``data`` itself when nothing applies."""
    expression, steps = data.expression, []
    if cells is not None and cells < len(expression):
        expression = subsample_cells(expression, cells, random_state=seed)
        steps.append(cells_text or f"cells={cells}")
    if magic is not None:
        params = {k: v for k, v in magic.items() if k != "preprocess"}
        counts = magic_counts(magic.get("preprocess", "auto"), expression.to_numpy())
        imputed = magic_impute(expression.to_numpy(), random_state=seed, cache_dir=magic_cache,
                               **params, normalize=counts, sqrt=counts)
        expression = pd.DataFrame(imputed, index=expression.index, columns=expression.columns)
        steps.append("magic" if counts else "magic (values as given)")
    if drop_prob > 0 and drop_cutoff > 0:
        expression = boolode_dropout(expression, drop_prob, drop_cutoff, random_state=seed)
        steps.append(f"dropout(p={drop_prob}, cutoff={drop_cutoff})")
    if not steps:
        return data
    return replace(data, expression=expression, source=f"{data.source} | {' -> '.join(steps)}")
