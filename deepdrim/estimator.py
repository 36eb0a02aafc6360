"""The DeepDRIM estimator: scikit-learn style ``fit`` / ``predict_proba`` over gene pairs."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Optional

import keras
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError

from deepdrim._validation import check_labels
from deepdrim.choices import check_parameters
from deepdrim.cv import MIN_VALIDATION_TFS, tf_validation_split
from deepdrim.diagnostics import LearningFailureWarning, learning_failure
from deepdrim.images import PairImageBuilder, TargetImages
from deepdrim.training import EpochCallback, ImageTable, PairScorer, fit_table, seeded

_DIAGNOSTIC_PAIRS = 256  # training pairs scored after a fit to check that the scores vary


def _bf16_hardware() -> bool:
    """A GPU, or a CPU with bfloat16 matrix units (AMX / AVX512-BF16) that oneDNN uses."""
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return True
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


class DeepDRIM(ClassifierMixin, BaseEstimator):
    """DeepDRIM (n_neighbors > 0) or CNNC (n_neighbors = 0) over gene-pair images.

    Defaults follow the reference: SGD with momentum 0.9 and Nesterov (``optimizer="adam"`` uses
    Adam at ``learning_rate`` instead, which converges in far fewer epochs), learning-rate decay 1e-6
    per step (``lr / (1 + decay * step)``), early stopping with patience 10 on a validation split
    taken by TF (no TF on both sides), restoring the best epoch's weights. The split holds
    ``validation_fraction`` of the TFs, raised to ``deepdrim.cv.MIN_VALIDATION_TFS`` (4) when the
    training pairs have at least 8 TFs (:func:`deepdrim.cv.tf_validation_split`); with fewer TFs a
    split of fewer than 4 TFs is not used (one TF's AUROC is noise): then all ``epochs`` run and
    the last one is kept, with a warning. ``validation_fraction=0`` asks for that fixed budget on
    every training TF (all ``epochs``, the last kept) without a split or a warning. ``min_epochs``: the
    first ``min_epochs - 1`` epochs can neither be the best epoch nor count towards patience, so a
    fit runs at least ``min_epochs`` epochs and never returns a model from the 0.693 loss plateau
    (small training sets sit there for several epochs, where the validation score is noise).

    Training and scoring run on an image table (:mod:`deepdrim.training`): each distinct self or
    neighbor image of a batch is embedded once by Network B; ``batch_order="grouped"`` shuffles
    TFs and their pairs and cuts batches from that order, so a batch holds one or two TFs and
    their images are embedded once per batch (``"random"``: a plain permutation of the pairs).
    ``precision``: ``"float32"``, ``"mixed_bfloat16"`` (bfloat16 compute, float32 weights) or
    ``"auto"`` (mixed precision on a GPU or a CPU with bfloat16 units, float32 otherwise).

    Speed on large data (thousands of pairs): ``steps_per_epoch`` caps an epoch at that many
    batches (a fresh random subset of the shuffled batches each epoch; ``None``: every pair every
    epoch), so the fit's optimizer steps stop growing with the data; ``max_validation_pairs``
    validates on a fixed random subset of that many validation pairs; ``plateau_validation=False``
    skips validation in epochs 1 .. ``min_epochs`` - 1, which cannot be selected nor stop the
    fit (their validation metrics are NaN; the fitted model is the same). ``n_samples_trained_``:
    the pairs the fit passed through training steps, summed over epochs.

    ``inputs="target_only"`` is an ablation, not a method: the same network fed only the images
    of the target gene b, (b, b) and (b_j, b) for b's n best neighbors (not skipping the TF), with
    every other channel the all-zero image (:meth:`deepdrim.images.PairImageBuilder.target_rows`),
    so its scores are a function of the target alone. On ground truths where some genes are
    targets of nearly every TF it measures how much of a score is the target's identity. Needs
    ``n_neighbors >= 1``; no primary or TF images are computed, so it is cheaper than ``"all"``.

    After ``fit``: ``learned_`` is False when the fit did not learn (its scores on up to 256
    training pairs are constant, or its training loss never left the constant predictor's plateau,
    0.693 for balanced classes: :func:`deepdrim.diagnostics.learning_failure`), and ``failure_``
    says why (None when it learned). Such a model's AUROC is not a result.
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
        neighbor_values: str = "raw",
        transform: str = "log",
        conv_filters: tuple = (32, 64, 128),
        embedding: int = 512,
        conv_dropout: float = 0.25,
        dense_units: tuple = (512, 128),
        dense_dropout: float = 0.5,
        batch_order: str = "grouped",
        precision: str = "auto",
        steps_per_epoch: Optional[int] = None,
        max_validation_pairs: Optional[int] = None,
        plateau_validation: bool = True,
        inputs: str = "all",
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
        self.neighbor_values = neighbor_values
        self.transform = transform
        self.conv_filters = conv_filters
        self.embedding = embedding
        self.conv_dropout = conv_dropout
        self.dense_units = dense_units
        self.dense_dropout = dense_dropout
        self.batch_order = batch_order
        self.precision = precision
        self.steps_per_epoch = steps_per_epoch
        self.max_validation_pairs = max_validation_pairs
        self.plateau_validation = plateau_validation
        self.inputs = inputs
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ helpers
    def _check_params(self) -> None:
        """Every constructor argument's type and range (:data:`deepdrim.choices.PARAMETERS`): one
        ``ValueError`` naming the first bad one."""
        check_parameters(self.get_params(deep=False))

    def _dtype_policy(self) -> Optional[str]:
        if self.precision == "auto":
            return "mixed_bfloat16" if _bf16_hardware() else None
        return None if self.precision == "float32" else self.precision

    def _make_builder(self, expression) -> PairImageBuilder:
        return PairImageBuilder(expression, self.n_neighbors, self.n_bins, self.neighbor_score, self.transform,
                                self.neighbor_values)

    def _build_network(self):
        from deepdrim.model import build_model

        model = build_model(self.n_neighbors, self.n_bins, tuple(self.conv_filters), self.embedding,
                            self.conv_dropout, tuple(self.dense_units), self.dense_dropout,
                            dtype=self._dtype_policy())
        schedule = keras.optimizers.schedules.InverseTimeDecay(self.learning_rate, decay_steps=1,
                                                               decay_rate=self.lr_decay)
        if self.optimizer == "adam":
            optimizer = keras.optimizers.Adam(learning_rate=schedule)
        else:
            optimizer = keras.optimizers.SGD(learning_rate=schedule, momentum=self.momentum, nesterov=self.nesterov)
        model.compile(optimizer=optimizer, loss="binary_crossentropy")
        return model

    # ------------------------------------------------------------------ API
    def fit(self, expression, pairs, labels, *, epoch_callback: Optional[EpochCallback] = None) -> "DeepDRIM":
        """Train on labelled gene pairs of ``expression`` (cells x genes counts).

        ``epoch_callback(epoch, logs)`` is called after every epoch with loss and validation
        metrics (a hook for trackers and pruners; an exception it raises stops the fit).
        """
        self._check_params()
        builder = self._make_builder(expression)
        pairs = builder.resolve_pairs(pairs)
        if len(pairs) < 2:
            raise ValueError(f"pairs must hold at least 2 labelled pairs (both classes), got {len(pairs)}")
        y = check_labels(labels, len(pairs))
        rows = (builder.target_rows(pairs) if self.inputs == "target_only"
                else builder.rows(pairs, keep_primary=True))  # every image of the fit once, in RAM
        table = ImageTable(builder.images[: int(rows.max()) + 1], rows)  # not the buffer's spare capacity
        self._fit_table(table, pairs[:, 0], y, epoch_callback)
        self.builder_ = builder
        self.n_features_in_ = builder.n_genes
        self.gene_names_ = builder.gene_names
        return self

    def fit_images(self, images, labels, groups, *, epoch_callback: Optional[EpochCallback] = None) -> "DeepDRIM":
        """Train on ready image tensors (P, channels, nb, nb) (e.g. of many small datasets), with
        the validation split for early stopping taken by ``groups`` (P,) (a TF, or a dataset) as
        :meth:`fit` takes it by TF. Channels must be ``2 * n_neighbors + 3`` (1 for n=0) and nb
        ``n_bins``. Such a model scores images with :meth:`predict_proba_images`."""
        self._check_params()
        table = ImageTable.from_images(self._masked(images))
        expected = (2 * self.n_neighbors + 3 if self.n_neighbors else 1, self.n_bins)
        if table.rows.shape[1] != expected[0] or table.images.shape[1] != expected[1]:
            raise ValueError(f"images must have shape (P, {expected[0]}, {expected[1]}, {expected[1]}), "
                             f"got {np.shape(images)}")
        y = check_labels(labels, len(table.rows))
        groups = np.asarray(groups)
        if groups.shape != y.shape:
            raise ValueError(f"groups must have one entry per image tensor ({len(y)}), got shape {groups.shape}")
        self._fit_table(table, groups, y, epoch_callback)
        self.builder_ = None
        self.n_features_in_ = None
        self.gene_names_ = None
        return self

    def _fit_table(self, table: ImageTable, groups: np.ndarray, y: np.ndarray, epoch_callback) -> None:
        """The training loop of :func:`deepdrim.training.fit_table` with a validation split by group."""
        codes = np.unique(groups, return_inverse=True)[1].ravel()  # order-preserving: same split as by TF index
        keys = np.column_stack([codes, np.zeros(len(codes), dtype=np.int64)])
        split = None if self.validation_fraction == 0 else tf_validation_split(
            keys, y, self.validation_fraction, self.random_state, min_val_tfs=MIN_VALIDATION_TFS)
        if split is None and self.validation_fraction > 0:
            n_groups = int(codes.max()) + 1 if len(codes) else 0
            warnings.warn(f"no validation split of >= {MIN_VALIDATION_TFS} TFs with both classes "
                          f"({n_groups} TFs, validation_fraction={self.validation_fraction}): training a fixed "
                          f"budget of {self.epochs} epochs without early stopping, keeping the last epoch",
                          stacklevel=3)
        if split is None:  # validation_fraction=0 asks for this: the fixed budget on every group, no warning
            train_idx, val_idx = np.arange(len(y)), np.zeros(0, dtype=np.int64)
        else:
            train_idx, val_idx = split
        with seeded(self.random_state):
            model = self._build_network()
            history, best_epoch = fit_table(
                model, table, y, train_idx, val_idx, epochs=int(self.epochs), batch_size=int(self.batch_size),
                patience=int(self.patience), min_epochs=int(self.min_epochs), monitor=self.monitor,
                rng=np.random.default_rng(self.random_state),
                groups=codes if self.batch_order == "grouped" else None, epoch_callback=epoch_callback, verbose=self.verbose,
                steps_per_epoch=self.steps_per_epoch, max_val_pairs=self.max_validation_pairs,
                plateau_validation=bool(self.plateau_validation))
        per_epoch = len(train_idx) if self.steps_per_epoch is None else min(
            len(train_idx), int(self.steps_per_epoch) * int(self.batch_size))
        self.model_ = model
        self.n_samples_trained_ = per_epoch * len(history["loss"])
        self.history_ = history
        self.best_epoch_ = best_epoch
        self.classes_ = np.array([0, 1])
        self._scorer = None
        sample = np.unique(np.linspace(0, len(train_idx) - 1, min(len(train_idx), _DIAGNOSTIC_PAIRS)).astype(np.int64))
        probe = ImageTable(table.images, table.rows[train_idx[sample]])
        self.failure_ = learning_failure(history["loss"], y[train_idx], PairScorer(model, None).score_table(probe))
        self.learned_ = self.failure_ is None
        if not self.learned_:
            warnings.warn(f"DeepDRIM did not learn: {self.failure_}", LearningFailureWarning, stacklevel=3)

    def _masked(self, images) -> np.ndarray:
        """Image tensors (P, channels, nb, nb) as this model sees them: for ``inputs="target_only"``
        a copy with the TF's channels (0 = (tf, target), 1 = (tf, tf), 3..n+2 = (tf, tf_i)) zeroed."""
        if self.inputs != "target_only":
            return images
        images = np.array(images, dtype=np.float32)
        if images.ndim == 4 and images.shape[1] > 3:
            images[:, : 2] = 0.0
            images[:, 3 : 3 + self.n_neighbors] = 0.0
        return images

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError("This DeepDRIM instance is not fitted yet: call fit(expression, pairs, labels) first")

    def _link_scores(self, pairs, expression=None) -> np.ndarray:
        """(P,) link probabilities; each gene's neighbor embeddings are computed once and kept
        for later calls on the same expression (``task=predict`` scores in chunks)."""
        self._check_fitted()
        if expression is None and self.builder_ is None:
            raise ValueError("this model has no training expression: pass expression=")
        builder = self.builder_ if expression is None else self._make_builder(expression)
        if self.n_features_in_ is not None and builder.n_genes != self.n_features_in_:
            raise ValueError(f"expression has {builder.n_genes} genes, the model was fitted on {self.n_features_in_}")
        pairs = builder.resolve_pairs(pairs)
        scorer = getattr(self, "_scorer", None)
        if scorer is None or getattr(scorer.builder, "builder", scorer.builder) is not builder:
            scorer = PairScorer(self.model_, builder if self.inputs == "all" else TargetImages(builder))
            if builder is self.builder_:
                self._scorer = scorer
        return scorer.score(pairs)

    def predict_proba(self, pairs, expression=None) -> np.ndarray:
        """Class probabilities (P, 2) of each pair, scikit-learn's layout: column 1 is the
        probability of a regulatory link, column 0 its complement. Images come from
        ``expression`` when given (same genes as in fit), else from the training expression."""
        link = self._link_scores(pairs, expression)
        return np.column_stack([1.0 - link, link])

    def predict(self, pairs, expression=None, threshold: float = 0.5) -> np.ndarray:
        """0/1 link calls at ``threshold``."""
        return (self._link_scores(pairs, expression) >= threshold).astype(np.int64)

    def predict_proba_images(self, images) -> np.ndarray:
        """Class probabilities (P, 2) of ready image tensors (P, channels, nb, nb), as :meth:`fit_images` takes."""
        self._check_fitted()
        table = ImageTable.from_images(self._masked(images))
        link = PairScorer(self.model_, None).score_table(table)
        return np.column_stack([1.0 - link, link])

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
                    "best_epoch": int(self.best_epoch_), "failure": getattr(self, "failure_", None)}
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
        meta_file = path / "deepdrim.json"
        try:
            meta = json.loads(meta_file.read_text())
            params = {k: (tuple(v) if isinstance(v, list) else v) for k, v in meta["params"].items()}
            meta["n_genes"], meta["gene_names"]  # noqa: B018 - present, or the file is not ours
            est = cls(**params)
            est._check_params()
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ValueError(f"{meta_file} is not a valid DeepDRIM model description ({type(error).__name__}: "
                             f"{reason})") from None
        try:
            est.model_ = keras.models.load_model(path / "model.keras", safe_mode=False)
        except Exception as error:  # noqa: BLE001 - keras reports a corrupt file as "File not found" and more
            raise ValueError(f"{path / 'model.keras'} is not a readable Keras model "
                             f"({type(error).__name__})") from None
        est.n_features_in_ = meta["n_genes"]
        est.gene_names_ = meta["gene_names"]
        est.best_epoch_ = meta.get("best_epoch", -1)
        est.failure_ = meta.get("failure")
        est.learned_ = est.failure_ is None
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
