"""The robustness study's degradations of a template, in the paper's order:
cell subsampling -> MAGIC imputation -> BoolODE dropout (the training fraction acts per fold).

They apply to any data source (the simulator, SERGIO, a real BEELINE folder):

* ``cells``: an integer count (>= 2, at most the data's cells) or a fraction of the data's cells, a
  float in (0, 1] (``round(fraction * cells)``, at least 2; 1.0 = all), so one sweep fits datasets
  of any size (Fig. 4A's preset sweeps fractions: on the 4,000-cell template they are the paper's
  counts 20 ... 4,000);
* ``magic.preprocess``: ``auto`` (default) applies MAGIC's count preprocessing (library-size
  normalisation, square root) only when every value is a whole number (counts: the simulator,
  SERGIO's UMI counts); non-integer values (BEELINE's processed log values, a normalised h5ad
  layer) are imputed as they are, so they are not normalised or transformed a second time;
  ``counts`` / ``none`` force either.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np
from omegaconf import DictConfig, OmegaConf

from deepdrim.data import Dataset
from experiments.config import checks
from experiments.config import data as job_data
from experiments.config.paths import project_path
from sim.subsample import cell_count


def data_cells(cfg) -> Optional[int]:
    """The job's cell count where it is known without loading the data: a simulation's
    ``data.n_cells``, for task=cv the header of a BEELINE folder's ``ExpressionData.csv``; else None."""
    import csv

    data = cfg.get("data") or {}
    if data.get("kind", "sim") in job_data.SIMULATED_KINDS or data.get("kind") not in job_data.DATA_KINDS:
        n = data.get("n_cells")
        return n if isinstance(n, int) and not isinstance(n, bool) else None
    if data.get("kind") != "beeline" or not data.get("path") or cfg.get("task", "cv") != "cv":
        return None
    try:
        from deepdrim.io import EXPRESSION_FILE

        path = job_data.resolve_path(data["path"], "path", "beeline") / EXPRESSION_FILE
        with open(path, newline="") as handle:
            header = next(csv.reader(handle), None)
    except (OSError, ValueError, ImportError):  # the job's own reader says what is wrong
        return None
    return len(header) - 1 if header and len(header) > 1 else None


def check(cfg: DictConfig, n_template_cells: Optional[int] = None) -> None:
    """One-line errors for the degradation knobs, before anything runs (``cells`` against the
    data's size when it is known)."""
    checks.check_keys(cfg, ("cells", "magic.preprocess", "drop_prob", "drop_cutoff", "train_fraction"))
    if n_template_cells is not None:
        cell_count(cfg.get("cells"), n_template_cells)


def degrade(cfg: DictConfig, data: Dataset) -> Dataset:
    """:func:`sim.degrade.degrade` with the job's ``cells``, ``magic`` and ``drop_prob``/``drop_cutoff``
    (a new data object; the input is untouched). MAGIC results are cached under ``magic.cache``."""
    from sim.degrade import degrade as degrade_data

    keep = cell_count(cfg.get("cells"), len(data.expression))
    text = None if keep is None or keep == cfg.cells else f"cells={keep} ({cfg.cells:g} of {len(data.expression)})"
    magic = cfg.get("magic") or {}
    params = {k: v for k, v in magic.items() if k not in ("enabled", "cache")} if magic.get("enabled", False) else None
    return degrade_data(data, cells=keep, magic=params, drop_prob=float(cfg.get("drop_prob", 0.0)),
                        drop_cutoff=float(cfg.get("drop_cutoff", 0.0)), seed=int(cfg.seed), cells_text=text,
                        magic_cache=project_path(magic["cache"]) if magic.get("cache") else None)


def job_dataset(cfg: DictConfig, check_input: Callable[[Dataset], None]) -> Dataset:
    """The job's data (its ``data`` config at its seed), passed to ``check_input`` before anything
    else runs (bad input: one line, nothing written), then degraded by :func:`degrade`."""
    data = job_data.load(OmegaConf.to_container(cfg.data, resolve=True), int(cfg.seed))
    check_input(data)
    return degrade(cfg, data)


def train_subset(cfg: DictConfig, train: np.ndarray, labels: np.ndarray, fold: int) -> np.ndarray:
    """The fold's training pairs kept at ``train_fraction`` (class-stratified, seeded per fold);
    the test fold is never touched."""
    from sim.subsample import training_pairs

    fraction = float(cfg.get("train_fraction", 1.0))
    if fraction >= 1.0:
        return train
    return training_pairs(train, labels[train], fraction, random_state=int(cfg.seed) * 1000 + fold)
