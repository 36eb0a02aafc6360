"""The job's method from its config: its label, DeepDRIM's constructor parameters (model and
training groups), its cross-validation on a data object, the fold split, and the checks of those
knobs against the data's size. Shared by the cv, predict, direction and search tasks."""
from __future__ import annotations

from typing import Optional

import numpy as np
from omegaconf import DictConfig, OmegaConf

from deepdrim import evaluation
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


def estimator_class(cfg: DictConfig):
    """The model group's ``_target_``: :class:`deepdrim.DeepDRIM`, or a user's own class with its
    constructor, ``fit`` / ``fit_images`` and ``predict_proba`` / ``predict_proba_images``."""
    return checks.target_of(cfg.model._target_, "model")


def estimator(cfg: DictConfig, **changes):
    """The job's estimator: :func:`estimator_class` built from :func:`estimator_params`, with
    ``changes`` (``n_neighbors=0``: the CNNC arm of a direction model)."""
    return estimator_class(cfg)(**{**estimator_params(cfg), **changes})


def cross_validate(cfg: DictConfig, data: Dataset, on_epoch=None, **options) -> evaluation.CrossValidation:
    """The job's method cross-validated on ``data`` (:func:`deepdrim.evaluation.cross_validate`):
    DeepDRIM, CNNC or the target-only ablation built from the model and training groups, or a
    baseline by name; folds of ``cv.split``, the training pairs cut to ``train_fraction``.
    ``options`` are more (or other) keywords of the library call (a search trial's: split, on_fold, score)."""
    method = cfg.get("method", "deepdrim")
    supervised = method in SUPERVISED
    labels = data.pairs.labels
    label = f"CV {method}" + (f" neighbors={cfg.neighbors}" if supervised else "") + f" {len(labels):,} pairs"
    options = {"split": split_of(cfg), "progress": label, **options}
    return evaluation.cross_validate(
        estimator(cfg) if supervised else method, data.expression.to_numpy(), data.pairs.pairs,
        labels, gene_names=data.gene_names, kinds=data.pairs.kind, n_folds=int(cfg.cv.n_folds),
        random_state=int(cfg.seed), train_subset=lambda train, k: degrade.train_subset(cfg, train, labels, k),
        on_epoch=on_epoch, **options)


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
