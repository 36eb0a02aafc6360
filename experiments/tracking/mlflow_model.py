"""A trained DeepDRIM as an MLflow model: ``mlflow.pyfunc.load_model("runs:/<id>/model")`` scores
TF/target gene-name pairs.

The logged model carries what scoring needs and nothing else has: the saved DeepDRIM folder
(:meth:`DeepDRIM.save`: Keras model, hyperparameters, gene order), the expression matrix its
images are built from (cells x genes, gene-named columns, ``expression.npz``) and a copy of the
``deepdrim`` package (``code_paths``), so a user with the pinned environment can score any pair of
the genes by name. :func:`resolve_model_path` turns ``runs:/`` / ``models:/`` URIs into the local
DeepDRIM folder for ``task=predict model_path=...``.
"""
from __future__ import annotations

import contextlib
import logging
import sys
import tempfile
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any, Optional, Union

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import Model, ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, Schema

from deepdrim.evaluation import link_probabilities

#: artifact keys of the pyfunc model (its ``artifacts/`` folder)
MODEL_KEY = "deepdrim"
EXPRESSION_KEY = "expression"
#: MLflow URI schemes resolved by download (anything else is a local path)
MODEL_URI_SCHEMES = ("runs:/", "models:/", "mlflow-artifacts:/", "http://", "https://", "s3://", "gs://", "file:")
SIGNATURE = ModelSignature(inputs=Schema([ColSpec("string", "tf"), ColSpec("string", "target")]),
                           outputs=Schema([ColSpec("double", "probability")]))
_REQUIREMENTS = ("tensorflow-cpu", "keras", "numpy", "pandas", "scikit-learn", "mlflow")


def save_expression(expression: pd.DataFrame, path: Path) -> Path:
    """Cells x genes matrix with its gene (and cell) names as one compressed ``.npz``."""
    np.savez_compressed(path, values=expression.to_numpy(), genes=np.asarray(expression.columns, dtype=str),
                        cells=np.asarray(expression.index, dtype=str))
    return path


def load_expression(path) -> pd.DataFrame:
    """The matrix :func:`save_expression` wrote, gene-named columns."""
    with np.load(path, allow_pickle=False) as saved:
        return pd.DataFrame(saved["values"], index=saved["cells"], columns=saved["genes"])


class DeepDRIMPyfunc(PythonModel):
    """pyfunc wrapper: a DataFrame with columns ``tf``, ``target`` (gene names of the training
    expression) -> a DataFrame with column ``probability`` (link probability, one row per pair)."""

    def load_context(self, context) -> None:
        from deepdrim.estimator import DeepDRIM

        self.expression_ = load_expression(context.artifacts[EXPRESSION_KEY])
        self.estimator_ = DeepDRIM.load(context.artifacts[MODEL_KEY], expression=self.expression_)
        self.genes_ = pd.Index(self.expression_.columns)

    def pair_indices(self, model_input: pd.DataFrame) -> np.ndarray:
        """(P, 2) gene indices of the ``tf``/``target`` names (one-line error naming unknown genes)."""
        if not isinstance(model_input, pd.DataFrame) or not {"tf", "target"} <= set(model_input.columns):
            raise ValueError("model_input must be a DataFrame with columns 'tf' and 'target' (gene names)")
        tf = self.genes_.get_indexer(model_input["tf"].astype(str))
        target = self.genes_.get_indexer(model_input["target"].astype(str))
        unknown = np.concatenate([model_input["tf"].to_numpy()[tf < 0], model_input["target"].to_numpy()[target < 0]])
        if unknown.size:
            raise ValueError(f"{unknown.size} gene name(s) not in the model's expression, e.g. {unknown[0]!r}")
        return np.column_stack([tf, target]).astype(np.int64)

    def predict(self, context, model_input: pd.DataFrame, params: Optional[dict[str, Any]] = None) -> pd.DataFrame:
        """Link probabilities of the ``tf``/``target`` pairs. The type hints let MLflow check its
        input as a DataFrame (and keep it from warning that they are missing); the column schema is
        the explicit :data:`SIGNATURE` logged with the model."""
        pairs = self.pair_indices(model_input)
        scores = link_probabilities(self.estimator_.predict_proba(pairs)) if len(pairs) else np.zeros(0)
        return pd.DataFrame({"probability": scores}, index=model_input.index)


def _pip_requirements() -> list[str]:
    """The installed versions of what loading needs (skips MLflow's slow import-capturing inference)."""
    pins = []
    for name in _REQUIREMENTS:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return pins


def log_deepdrim_model(estimator, expression: pd.DataFrame, *, name: str = "model",
                       registered_model_name: Optional[str] = None, extra_metadata: Optional[dict] = None):
    """Log a fitted DeepDRIM with its expression matrix as a pyfunc model at artifact path
    ``name`` of the active run (registered as ``registered_model_name`` when given); returns
    MLflow's ``ModelInfo`` (``.model_uri`` is ``runs:/<id>/model``)."""
    if not isinstance(expression, pd.DataFrame):
        raise TypeError(f"expression must be a pandas DataFrame with gene-named columns, got {type(expression).__name__}")
    genes = getattr(estimator, "gene_names_", None)
    if genes is not None and list(map(str, expression.columns)) != list(genes):
        raise ValueError("expression's genes (columns) differ from the genes the model was fitted on")
    import cloudpickle

    import deepdrim

    with tempfile.TemporaryDirectory(prefix="deepdrim-pyfunc-") as tmp:
        model_dir = estimator.save(Path(tmp) / "deepdrim")
        expression_file = save_expression(expression, Path(tmp) / "expression.npz")
        this_module = sys.modules[__name__]
        cloudpickle.register_pickle_by_value(this_module)  # the wrapper travels with the model
        try:
            # the signature is explicit; an example would load and run the model again. The wrapper is
            # pickled by value on purpose (it travels with the model): MLflow's advice to log models from
            # code instead is a logged warning on every predict job, filtered for this call only
            with warnings.catch_warnings(), _without_log("mlflow.pyfunc", "Passing a Python object as `python_model`"):
                warnings.filterwarnings("ignore", message=".*An input example was not provided", category=UserWarning)
                return mlflow.pyfunc.log_model(
                    name=name, python_model=DeepDRIMPyfunc(),
                    artifacts={MODEL_KEY: str(model_dir), EXPRESSION_KEY: str(expression_file)},
                    code_paths=[str(Path(deepdrim.__file__).parent)], signature=SIGNATURE,
                    pip_requirements=_pip_requirements(), registered_model_name=registered_model_name,
                    metadata={"cells": int(expression.shape[0]), "genes": int(expression.shape[1]),
                              "n_neighbors": int(estimator.n_neighbors), **(extra_metadata or {})})
        finally:
            cloudpickle.unregister_pickle_by_value(this_module)


@contextlib.contextmanager
def _without_log(logger_name: str, prefix: str):
    """Drop the records of ``logger_name`` whose message starts with ``prefix`` while inside."""
    def keep(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(prefix)

    logger = logging.getLogger(logger_name)
    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


def is_model_uri(model_path) -> bool:
    """True for an MLflow model URI (``runs:/``, ``models:/``, remote artifact URLs)."""
    return str(model_path).startswith(MODEL_URI_SCHEMES)


def _deepdrim_folder(local: Path) -> Path:
    """The DeepDRIM folder in a local pyfunc model (an ``MLmodel`` folder) or ``local`` itself."""
    if not (local / "MLmodel").is_file():
        return local
    flavor = Model.load(str(local)).flavors.get("python_function", {})
    artifacts = flavor.get("artifacts") or {}
    entry = artifacts.get(MODEL_KEY)
    if entry is None:
        raise ValueError(f"{local}: an MLflow model without a '{MODEL_KEY}' artifact (not logged by log_deepdrim_model)")
    path = entry.get("path") if isinstance(entry, dict) else entry
    return local / path


def resolve_model_path(model_path: Union[str, Path], *, base: Optional[Path] = None,
                       tracking_uri: Optional[str] = None, dst_path: Optional[Path] = None) -> Path:
    """Local DeepDRIM folder for ``model_path``: MLflow URIs (``runs:/<id>/model``,
    ``models:/<name>/<version>``) are downloaded (into ``dst_path``, default a new temporary
    folder) from ``tracking_uri`` (default: the current one); a local pyfunc model folder gives its
    DeepDRIM artifact; any other local path is returned as is (relative ones against ``base``)."""
    if is_model_uri(model_path):
        dst = Path(dst_path) if dst_path is not None else Path(tempfile.mkdtemp(prefix="deepdrim-model-"))
        dst.mkdir(parents=True, exist_ok=True)
        try:
            local = mlflow.artifacts.download_artifacts(artifact_uri=str(model_path), dst_path=str(dst),
                                                        tracking_uri=tracking_uri)
        except Exception as error:  # noqa: BLE001 - MLflow raises many types for a bad URI
            raise ValueError(f"model_path={model_path}: cannot download it "
                             f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})") from None
        return _deepdrim_folder(Path(local))
    path = Path(str(model_path)).expanduser()
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    return _deepdrim_folder(path)

