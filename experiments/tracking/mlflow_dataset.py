"""The expression matrix a run used, as an MLflow dataset (``mlflow.log_input``): the runs table's
Dataset column and the run's lineage then name the data, its source and its digest.

Only metadata is logged (name, source, digest, cells x genes), never the matrix itself: the source
is the data file/folder (``data.path``) or, for simulated data, the simulator and its config; the
digest is a hash of the matrix's values and gene names, so two runs on the same numbers share it.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Optional, Union

import mlflow
import numpy as np
import pandas as pd
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.data.dataset_source import DatasetSource
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset
from mlflow.exceptions import MlflowException

from experiments.config.data import SIMULATED_KINDS
from experiments.tracking import mlflow_store

SIMULATOR = "sim.grn.simulate_grn"
LOG_INPUT_ATTEMPTS = 3  # concurrent jobs logging one new dataset: the losers of the insert race retry


def expression_digest(expression: pd.DataFrame) -> str:
    """16 hex characters of sha256 over the matrix's shape, gene names and values."""
    digest = hashlib.sha256(json.dumps([list(expression.shape), list(map(str, expression.columns))]).encode())
    digest.update(np.ascontiguousarray(expression.to_numpy(dtype=np.float64)).tobytes())
    return digest.hexdigest()[:16]


class ExpressionDataset(MetaDataset):
    """Metadata of a cells x genes expression matrix; the profile holds its size."""

    def __init__(self, source: DatasetSource, name: str, digest: str, n_cells: int, n_genes: int,
                 extra_profile: Optional[dict] = None):
        self._profile = {"cells": int(n_cells), "genes": int(n_genes), **(extra_profile or {})}
        super().__init__(source=source, name=name, digest=digest)

    @property
    def profile(self) -> dict:
        return dict(self._profile)

    def to_dict(self) -> dict[str, str]:
        config = super().to_dict()
        config["profile"] = json.dumps(self._profile)
        return config


def _resolve_path(path: str) -> DatasetSource:
    """MLflow's ``resolve_dataset_source`` for a local path, without its "can be interpreted in
    multiple ways: LocalArtifactDatasetSource, LocalArtifactDatasetSource" warning: MLflow 3.17
    registers that class twice, so a plain path matched it twice (the same source either way)."""
    from mlflow.data.dataset_source_registry import get_registered_sources

    unique: dict = {}
    for source in get_registered_sources():
        unique.setdefault((source.__module__, source.__qualname__), source)
    matching = [source for source in unique.values() if source._can_resolve(path)]
    if len(matching) == 1:
        return matching[0]._resolve(path)
    return resolve_dataset_source(path)


def dataset_source(source: Union[str, Path, dict]) -> DatasetSource:
    """A path (file or folder) -> its filesystem source; a dict (a simulator config) -> a code source
    tagged with the simulator and the config as JSON."""
    if isinstance(source, dict):
        generator = "sim.sergio.simulate_sergio" if source.get("kind") == "sergio" else SIMULATOR
        return CodeDatasetSource(tags={"generator": generator, "config": json.dumps(source, sort_keys=True, default=str)})
    if isinstance(source, (str, Path)):
        return _resolve_path(str(Path(source).expanduser().resolve()))
    raise TypeError(f"source must be a data path or a simulator config dict, got {type(source).__name__}")


def expression_dataset(expression: pd.DataFrame, source: Union[str, Path, dict], name: Optional[str] = None,
                       extra_profile: Optional[dict] = None) -> ExpressionDataset:
    """The MLflow dataset of ``expression`` from ``source`` (name: the file/folder name, or
    ``sim`` for a simulator config)."""
    if not isinstance(expression, pd.DataFrame):
        raise TypeError(f"expression must be a pandas DataFrame (cells x genes), got {type(expression).__name__}")
    if name is None:
        name = str(source.get("kind", "sim")) if isinstance(source, dict) else Path(str(source)).name or "data"
    return ExpressionDataset(dataset_source(source), name, expression_digest(expression), expression.shape[0],
                             expression.shape[1], extra_profile)


def job_source(data_cfg: dict, seed: int) -> Union[Path, dict]:
    """Source of a job's data from its resolved ``data`` config: ``data.path`` for files, the
    simulator config plus the seed for ``data=sim`` / ``data=sergio`` (without its target and cache folder)."""
    if data_cfg.get("kind", "sim") in SIMULATED_KINDS:
        return {**{k: v for k, v in data_cfg.items() if k not in ("_target_", "negatives", "cache")}, "seed": int(seed)}
    path = data_cfg.get("path")
    if not path:
        raise ValueError(f"data={data_cfg.get('kind')} has no data.path to name as the dataset source")
    return Path(str(path))


def log_expression_dataset(expression: pd.DataFrame, source: Union[str, Path, dict], name: Optional[str] = None,
                           context: str = "training", extra_profile: Optional[dict] = None,
                           tags: Optional[dict[str, Any]] = None) -> ExpressionDataset:
    """Log the dataset of ``expression`` as an input of the active run (``context`` tag:
    training/evaluation) and return it."""
    dataset = expression_dataset(expression, source, name, extra_profile)
    input_tags = {k: str(v) for k, v in (tags or {}).items()} or None
    with mlflow_store.signals_held():
        for _ in range(LOG_INPUT_ATTEMPTS - 1):
            try:
                mlflow.log_input(dataset, context=context, tags=input_tags)
                return dataset
            except MlflowException as error:
                if not _lost_insert_race(error):
                    raise
        mlflow.log_input(dataset, context=context, tags=input_tags)  # the last try: its error is the caller's
    return dataset


def _lost_insert_race(error: MlflowException) -> bool:
    """True when the store refused the dataset because a concurrent run inserted the same
    (experiment, name, digest) first: a retry then finds that row and links it to this run."""
    message = str(error)
    return "UNIQUE constraint failed: datasets" in message or ("IntegrityError" in message and "datasets" in message)


def log_job_input(data_cfg, seed: int, expression: pd.DataFrame) -> ExpressionDataset:
    """Log a job's (degraded) expression matrix as the active run's training input, its source
    taken from the job's ``data`` config (a DictConfig or dict)."""
    from omegaconf import DictConfig, OmegaConf

    resolved = OmegaConf.to_container(data_cfg, resolve=True) if isinstance(data_cfg, DictConfig) else dict(data_cfg)
    return log_expression_dataset(expression, job_source(resolved, int(seed)))
