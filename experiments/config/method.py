"""The job's method from its config: its label, DeepDRIM's constructor parameters (model and
training groups), the fold split, and the checks of those knobs against the data's size. Shared by
the cv, predict and search tasks."""
from __future__ import annotations

from typing import Optional

import numpy as np
from omegaconf import DictConfig, OmegaConf

from deepdrim._validation import check_choice
from deepdrim.choices import SPLITS, check_parameters
from deepdrim.data import Dataset
from experiments.config import checks, degrade
from experiments.config.checks import SUPERVISED


def method_label(cfg: DictConfig) -> str:
    """'DeepDRIM neighbors=10', 'CNNC' or the baseline's name."""
    method = cfg.get("method", "deepdrim")
    if method == "deepdrim":
        return f"DeepDRIM neighbors={cfg.neighbors}" if cfg.neighbors else "DeepDRIM neighbors=0 (CNNC)"
    if method == "target_only":
        return f"DeepDRIM target-only neighbors={cfg.neighbors}"
    return "CNNC" if method == "cnnc" else method


def estimator_params(cfg: DictConfig) -> dict:
    """DeepDRIM constructor arguments from the model and training groups."""
    params = {**OmegaConf.to_container(cfg.model, resolve=True), **OmegaConf.to_container(cfg.training, resolve=True)}
    params.pop("_target_", None)
    for key in ("conv_filters", "dense_units"):
        params[key] = tuple(params[key])
    params["random_state"] = int(cfg.seed)
    return params


def estimator(cfg: DictConfig, **changes):
    """The job's estimator: the model group's ``_target_`` (:class:`deepdrim.DeepDRIM`) built from
    :func:`estimator_params`, with ``changes`` (``n_neighbors=0``: the CNNC arm of a direction model)."""
    return checks.target_of(cfg.model._target_, "model")(**{**estimator_params(cfg), **changes})


def split_of(cfg: DictConfig) -> str:
    """The CV job's fold mode, ``cv.split`` ("tf" when a config predates the key)."""
    return str(cfg.cv.get("split", "tf"))


def check(cfg: DictConfig, n_cells: Optional[int] = None, n_genes: Optional[int] = None) -> None:
    """The job's knobs against the data's size where known (:func:`validate`: the loaded data's)."""
    name = checks.method(cfg.get("method", "deepdrim"))
    check_choice("cv.split", split_of(cfg), SPLITS)
    degrade.check(cfg, n_cells)
    if name in SUPERVISED:
        checks.neighbors(cfg.neighbors, n_genes, name)
        check_parameters(cfg.model, "model.")
        check_parameters(cfg.training, "training.")


def check_direction(cfg: DictConfig) -> None:
    """``task=direction`` compares DeepDRIM with CNNC (always run): it needs ``neighbors >= 1``."""
    if int(cfg.neighbors) < 1:
        raise ValueError(f"task=direction compares DeepDRIM with CNNC: neighbors must be >= 1 (CNNC is always "
                         f"run), got {cfg.neighbors}")


def validate(cfg: DictConfig, data: Dataset) -> None:
    """Everything checkable before a run starts (``ValueError`` with a one-line message)."""
    check(cfg, *data.expression.shape)
    n_tfs = len(np.unique(data.pairs.pairs[:, 0]))
    if n_tfs < int(cfg.cv.n_folds):
        raise ValueError(f"{cfg.cv.n_folds} TF-aware folds need at least {cfg.cv.n_folds} TFs; the data has {n_tfs}")
