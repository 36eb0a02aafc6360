"""The DeepDRIM estimator: scikit-learn style ``fit`` / ``predict_proba`` over gene pairs."""
from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Optional

import keras
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError

from deepdrim._validation import check_labels
from deepdrim.cv import tf_validation_split
from deepdrim.images import PairImageBuilder
from deepdrim.metrics import auprc, auroc

EpochCallback = Callable[[int, dict], None]
MONITORS = ("val_loss", "val_auroc", "val_auprc")
OPTIMIZERS = ("sgd", "adam")


def _binary_cross_entropy(labels: np.ndarray, probs: np.ndarray) -> float:
    probs = np.clip(probs, 1e-7, 1 - 1e-7)
    return float(-np.mean(labels * np.log(probs) + (1 - labels) * np.log(1 - probs)))


def _seed_everything(seed: int) -> None:
    import tensorflow as tf

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


class DeepDRIM(ClassifierMixin, BaseEstimator):
    """DeepDRIM (n_neighbors > 0) or CNNC (n_neighbors = 0) over gene-pair images.

    Defaults follow the reference: SGD with momentum 0.9 and Nesterov (``optimizer="adam"`` uses
    Adam at ``learning_rate`` instead, which converges in far fewer epochs), learning-rate decay 1e-6
    per step (``lr / (1 + decay * step)``), early stopping with patience 10 on a validation split
    taken by TF (no TF on both sides), restoring the best epoch's weights. ``min_epochs``: the
    first ``min_epochs - 1`` epochs can neither be the best epoch nor count towards patience, so a
    fit runs at least ``min_epochs`` epochs and never returns a model from the 0.693 loss plateau
    (small training sets sit there for several epochs, where the validation score is noise).
    """

    def __init__(
        self,
        n_neighbors: int = 10,
        epochs: int = 200,
        batch_size: int = 32,
        learning_rate: float = 0.01,
        patience: int = 10,
        min_epochs: int = 0,
        optimizer: str = "sgd",
        momentum: float = 0.9,
        nesterov: bool = True,
        lr_decay: float = 1e-6,
        validation_fraction: float = 0.2,
        monitor: str = "val_loss",
        n_bins: int = 32,
        neighbor_score: str = "covariance",
        transform: str = "log",
        conv_filters: tuple = (32, 64, 128),
        embedding: int = 512,
        conv_dropout: float = 0.25,
        dense_units: tuple = (512, 128),
        dense_dropout: float = 0.5,
        random_state: Optional[int] = None,
        verbose: int = 0,
    ):
        self.n_neighbors = n_neighbors
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.min_epochs = min_epochs
        self.optimizer = optimizer
        self.momentum = momentum
        self.nesterov = nesterov
        self.lr_decay = lr_decay
        self.validation_fraction = validation_fraction
        self.monitor = monitor
        self.n_bins = n_bins
        self.neighbor_score = neighbor_score
        self.transform = transform
        self.conv_filters = conv_filters
        self.embedding = embedding
        self.conv_dropout = conv_dropout
        self.dense_units = dense_units
        self.dense_dropout = dense_dropout
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ helpers
    def _check_params(self) -> None:
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.patience < 0:
            raise ValueError(f"patience must be >= 0, got {self.patience}")
        if self.min_epochs < 0:
            raise ValueError(f"min_epochs must be >= 0, got {self.min_epochs}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.monitor not in MONITORS:
            raise ValueError(f"monitor must be one of {MONITORS}, got {self.monitor!r}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction}")

    def _make_builder(self, expression) -> PairImageBuilder:
        return PairImageBuilder(expression, self.n_neighbors, self.n_bins, self.neighbor_score, self.transform)

    def _build_network(self):
        from deepdrim.model import build_model

        model = build_model(self.n_neighbors, self.n_bins, tuple(self.conv_filters), self.embedding,
                            self.conv_dropout, tuple(self.dense_units), self.dense_dropout)
        schedule = keras.optimizers.schedules.InverseTimeDecay(self.learning_rate, decay_steps=1,
                                                               decay_rate=self.lr_decay)
        if self.optimizer == "adam":
            optimizer = keras.optimizers.Adam(learning_rate=schedule)
        else:
            optimizer = keras.optimizers.SGD(learning_rate=schedule, momentum=self.momentum, nesterov=self.nesterov)
        model.compile(optimizer=optimizer, loss="binary_crossentropy")
        return model

    def _predict_pairs(self, model, builder: PairImageBuilder, pairs: np.ndarray) -> np.ndarray:
        """Scores batch by batch; the last batch is zero-padded to the same shape so the
        compiled predict function is traced once."""
        size = max(int(self.batch_size), 128)
        out = []
        for images in builder.iter_batches(pairs, batch_size=size):
            n = len(images)
            if n < size:
                images = np.concatenate([images, np.zeros((size - n,) + images.shape[1:], images.dtype)])
            out.append(np.asarray(model.predict_on_batch(images)).reshape(-1)[:n])
        return np.concatenate(out) if out else np.zeros(0)

    # ------------------------------------------------------------------ API
    def fit(self, expression, pairs, labels, *, epoch_callback: Optional[EpochCallback] = None) -> "DeepDRIM":
        """Train on labelled gene pairs of ``expression`` (cells x genes counts).

        ``epoch_callback(epoch, logs)`` is called after every epoch with loss and validation
        metrics (a hook for trackers and pruners; an exception it raises stops the fit).
        """
        from deepdrim.data import PairImageSequence

        self._check_params()
        builder = self._make_builder(expression)
        pairs = builder.resolve_pairs(pairs)
        y = check_labels(labels, len(pairs))
        if self.random_state is not None:
            _seed_everything(int(self.random_state))
        split = tf_validation_split(pairs, y, self.validation_fraction, self.random_state)
        if split is None:
            warnings.warn("no TF-wise validation split with both classes: training all epochs without early stopping",
                          stacklevel=2)
            train_idx, val_idx = np.arange(len(pairs)), np.zeros(0, dtype=np.int64)
        else:
            train_idx, val_idx = split
        model = self._build_network()
        train_data = PairImageSequence(builder, pairs[train_idx], y[train_idx], self.batch_size, shuffle=True,
                                       random_state=self.random_state)
        monitor = _EpochMonitor(self, builder, pairs[val_idx], y[val_idx], epoch_callback)
        model.fit(train_data, epochs=int(self.epochs), callbacks=[monitor], verbose=self.verbose)
        self.model_ = model
        self.builder_ = builder
        self.history_ = monitor.history
        self.best_epoch_ = monitor.best_epoch
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = builder.n_genes
        self.gene_names_ = builder.gene_names
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError("This DeepDRIM instance is not fitted yet: call fit(expression, pairs, labels) first")

    def predict_proba(self, pairs, expression=None) -> np.ndarray:
        """Probability of a regulatory link for each pair, shape (P,). Images come from
        ``expression`` when given (same genes as in fit), else from the training expression."""
        self._check_fitted()
        builder = self.builder_ if expression is None else self._make_builder(expression)
        if builder.n_genes != self.n_features_in_:
            raise ValueError(f"expression has {builder.n_genes} genes, the model was fitted on {self.n_features_in_}")
        return self._predict_pairs(self.model_, builder, builder.resolve_pairs(pairs))

    def predict(self, pairs, expression=None, threshold: float = 0.5) -> np.ndarray:
        """0/1 link calls at ``threshold``."""
        return (self.predict_proba(pairs, expression) >= threshold).astype(np.int64)

    # ------------------------------------------------------------------ persistence
    def save(self, path) -> Path:
        """Write the Keras model, constructor params and gene order to folder ``path`` (atomic)."""
        self._check_fitted()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            self.model_.save(tmp / "model.keras")
            params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.get_params().items()}
            meta = {"params": params, "gene_names": self.gene_names_, "n_genes": int(self.n_features_in_),
                    "best_epoch": int(self.best_epoch_)}
            (tmp / "deepdrim.json").write_text(json.dumps(meta, indent=2))
            if path.exists():
                shutil.rmtree(path)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return path

    @classmethod
    def load(cls, path, expression=None) -> "DeepDRIM":
        """A fitted estimator from :meth:`save`; ``expression`` (same genes) supplies images for
        ``predict_proba`` without passing it each call."""
        path = Path(path)
        if not (path / "deepdrim.json").is_file() or not (path / "model.keras").is_file():
            raise ValueError(f"{path} is not a saved DeepDRIM model (no deepdrim.json / model.keras)")
        meta = json.loads((path / "deepdrim.json").read_text())
        params = {k: (tuple(v) if isinstance(v, list) else v) for k, v in meta["params"].items()}
        est = cls(**params)
        est.model_ = keras.models.load_model(path / "model.keras", safe_mode=False)
        est.n_features_in_ = meta["n_genes"]
        est.gene_names_ = meta["gene_names"]
        est.best_epoch_ = meta.get("best_epoch", -1)
        est.history_ = {}
        est.classes_ = np.array([0, 1])
        est.builder_ = None
        if expression is not None:
            builder = est._make_builder(expression)
            if builder.n_genes != est.n_features_in_ or (
                    est.gene_names_ is not None and builder.gene_names is not None
                    and builder.gene_names != est.gene_names_):
                raise ValueError(f"the model at {path} was trained on other genes than this expression")
            est.builder_ = builder
        return est


class _EpochMonitor(keras.callbacks.Callback):
    """Keras callback: validation loss/AUROC/AUPRC each epoch, early stopping with patience,
    best weights restored at the end, and the user's epoch callback."""

    def __init__(self, estimator: DeepDRIM, builder, val_pairs, val_labels, epoch_callback):
        super().__init__()
        self.estimator = estimator
        self.builder = builder
        self.val_pairs = val_pairs
        self.val_labels = val_labels
        self.epoch_callback = epoch_callback
        self.history: dict[str, list] = {"loss": [], "val_loss": [], "val_auroc": [], "val_auprc": []}
        self.best_epoch = -1
        self.best_value = None
        self.best_weights = None
        self.wait = 0

    def _improved(self, value: float) -> bool:
        if self.best_value is None or np.isnan(self.best_value):
            return not np.isnan(value)
        return value < self.best_value if self.estimator.monitor == "val_loss" else value > self.best_value

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        model = self.model
        logs = dict(logs or {})
        record = {"loss": float(logs.get("loss", np.nan))}
        if len(self.val_labels):
            probs = self.estimator._predict_pairs(model, self.builder, self.val_pairs)
            record.update(val_loss=_binary_cross_entropy(self.val_labels, probs),
                          val_auroc=auroc(self.val_labels, probs), val_auprc=auprc(self.val_labels, probs))
        else:
            record.update(val_loss=np.nan, val_auroc=np.nan, val_auprc=np.nan)
        for key, value in record.items():
            self.history[key].append(value)
        # epochs before min_epochs are the loss plateau: their validation score is noise, so they
        # neither become the best epoch nor count towards patience
        eligible = epoch + 1 >= min(int(self.estimator.min_epochs), int(self.estimator.epochs))
        if len(self.val_labels) and eligible:
            value = record[self.estimator.monitor]
            if self._improved(value):
                self.best_value, self.best_epoch, self.wait = value, epoch, 0
                self.best_weights = model.get_weights()
            else:
                self.wait += 1
                if self.wait > self.estimator.patience:
                    model.stop_training = True
        elif not len(self.val_labels):
            self.best_epoch = epoch
        if self.epoch_callback is not None:
            self.epoch_callback(epoch, record)

    def on_train_end(self, logs=None) -> None:
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)
