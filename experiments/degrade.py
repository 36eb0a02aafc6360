"""The robustness study's degradations of a template, in the paper's order:
cell subsampling -> MAGIC imputation -> BoolODE dropout (the training fraction acts per fold)."""
from __future__ import annotations

from dataclasses import replace
from typing import Optional

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from experiments import data as job_data
from experiments.tracking import project_path


def _unit(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return float(value)


def check(cfg: DictConfig, n_template_cells: Optional[int] = None) -> None:
    """One-line errors for the degradation knobs, before anything runs (``cells`` against the
    template's size when it is known)."""
    cells = cfg.get("cells")
    if cells is not None:
        if isinstance(cells, bool) or not isinstance(cells, int):
            raise ValueError(f"cells must be an integer or null, got {cells!r}")
        if cells < 2:
            raise ValueError(f"cells must be at least 2, got {cells}")
        if n_template_cells is not None and cells > n_template_cells:
            raise ValueError(f"cells={cells} is larger than the template ({n_template_cells} cells)")
    _unit("drop_prob", cfg.get("drop_prob", 0.0))
    _unit("drop_cutoff", cfg.get("drop_cutoff", 0.0))
    fraction = cfg.get("train_fraction", 1.0)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise ValueError(f"train_fraction must be in (0, 1], got {fraction!r}")


def degrade(cfg: DictConfig, data: job_data.JobData) -> job_data.JobData:
    """Apply ``cells``, ``magic`` and ``drop_prob``/``drop_cutoff`` to the job's expression
    (a new JobData; the input is untouched). MAGIC results are cached under ``magic.cache`` (``paths.cache``)."""
    from sim.dropout import boolode_dropout
    from sim.magic import magic_impute
    from sim.subsample import cells as subsample_cells

    seed = int(cfg.seed)
    expression = data.expression
    steps = []
    if cfg.get("cells") is not None and cfg.cells < len(expression):
        expression = subsample_cells(expression, int(cfg.cells), random_state=seed)
        steps.append(f"cells={cfg.cells}")
    magic = cfg.get("magic") or {}
    if magic.get("enabled", False):
        params = {k: v for k, v in magic.items() if k not in ("enabled", "cache")}
        cache = project_path(magic["cache"]) if magic.get("cache") else None
        imputed = magic_impute(expression.to_numpy(), random_state=seed, cache_dir=cache, **params)
        expression = pd.DataFrame(imputed, index=expression.index, columns=expression.columns)
        steps.append("magic")
    drop_prob, drop_cutoff = float(cfg.get("drop_prob", 0.0)), float(cfg.get("drop_cutoff", 0.0))
    if drop_prob > 0 and drop_cutoff > 0:
        expression = boolode_dropout(expression, drop_prob, drop_cutoff, random_state=seed)
        steps.append(f"dropout(p={drop_prob}, cutoff={drop_cutoff})")
    if not steps:
        return data
    return replace(data, expression=expression, source=f"{data.source} | {' -> '.join(steps)}")


def train_subset(cfg: DictConfig, train: np.ndarray, labels: np.ndarray, fold: int) -> np.ndarray:
    """The fold's training pairs kept at ``train_fraction`` (class-stratified, seeded per fold);
    the test fold is never touched."""
    from sim.subsample import training_pairs

    fraction = float(cfg.get("train_fraction", 1.0))
    if fraction >= 1.0:
        return train
    return training_pairs(train, labels[train], fraction, random_state=int(cfg.seed) * 1000 + fold)
