"""Image-level training and scoring of DeepDRIM's network on an image table.

A fold's images are built once into a table (:class:`ImageTable`: the unique images and, per
pair, the table rows of its 2n+3 channels). A gene's self and neighbor images are rows shared by
all pairs of that gene, so each step embeds every distinct row once with Network B and gathers the
embeddings per pair (:class:`deepdrim.model.SharedEmbeddingNetwork`); the table stays on the
device, a step only sends row indices. :func:`fit_table` is the estimator's loop (validation
every epoch, early stopping, ``min_epochs``, best weights restored), reused by every study that
trains on images (the GGM study, :meth:`deepdrim.DeepDRIM.fit_images`).
"""
from __future__ import annotations

import contextlib
import functools
import random
from typing import Callable, Iterator, NamedTuple, Optional

import numpy as np

from deepdrim.choices import MONITORS
from deepdrim.metrics import auprc, auroc

EpochCallback = Callable[[int, dict], None]
_SCORE_CHUNK = 1024  # pairs per scoring step: memory flat in the number of pairs (1024 beat 256 and 4096)


class ImageTable(NamedTuple):
    """Images (U, nb, nb) float32 and, per pair, the rows (P, channels) of its images in it
    (channel 0 the primary image, then the 2n+2 neighbor images; row 0 may be the all-zero image)."""

    images: np.ndarray
    rows: np.ndarray

    @classmethod
    def from_images(cls, images) -> "ImageTable":
        """A table of per-pair image tensors (P, channels, nb, nb): every image its own row."""
        images = np.ascontiguousarray(images, dtype=np.float32)
        if images.ndim != 4 or images.shape[2] != images.shape[3]:
            raise ValueError(f"images must have shape (P, channels, nb, nb), got {images.shape}")
        rows = np.arange(images.shape[0] * images.shape[1], dtype=np.intp).reshape(images.shape[:2])
        return cls(images.reshape(-1, images.shape[2], images.shape[3]), rows)

    @classmethod
    def concatenate(cls, tables) -> "ImageTable":
        """One table of several (e.g. one per dataset): rows are offset into the joined images."""
        tables = list(tables)
        offsets = np.cumsum([0] + [len(t.images) for t in tables[:-1]])
        return cls(np.concatenate([t.images for t in tables]), np.concatenate([t.rows + o for t, o in zip(tables, offsets)]))


def binary_cross_entropy(labels: np.ndarray, probs: np.ndarray) -> float:
    """Mean log loss with probabilities clipped to [1e-7, 1 - 1e-7] (Keras's epsilon)."""
    probs = np.clip(probs, 1e-7, 1 - 1e-7)
    return float(-np.mean(labels * np.log(probs) + (1 - labels) * np.log(1 - probs)))


class BestEpoch:
    """Early stopping on a validation record each epoch: the best epoch (by ``monitor``) among
    epochs >= ``min_epochs`` - 1, stop after ``patience`` eligible epochs without improvement.
    Epochs before ``min_epochs`` are the 0.693 loss plateau: their validation score is noise, so
    they can neither be the best epoch nor count towards patience."""

    def __init__(self, monitor: str = "val_loss", patience: int = 10, min_epochs: int = 0, epochs: int = 1):
        if monitor not in MONITORS:
            raise ValueError(f"monitor must be one of {MONITORS}, got {monitor!r}")
        self.monitor, self.patience = monitor, int(patience)
        self.first_eligible = min(int(min_epochs), int(epochs)) - 1
        self.best_epoch, self.best_value, self.wait = -1, None, 0

    def _improved(self, value: float) -> bool:
        if self.best_value is None or np.isnan(self.best_value):
            return not np.isnan(value)
        return value < self.best_value if self.monitor == "val_loss" else value > self.best_value

    def update(self, epoch: int, record: dict) -> tuple[bool, bool]:
        """(is the new best epoch, stop training now) after ``epoch``'s validation ``record``."""
        if epoch < self.first_eligible:
            return False, False
        if self._improved(record[self.monitor]):
            self.best_value, self.best_epoch, self.wait = record[self.monitor], epoch, 0
            return True, False
        self.wait += 1
        return False, self.wait > self.patience


@contextlib.contextmanager
def seeded(seed: Optional[int]) -> Iterator[None]:
    """Seed Python, numpy and Keras/TensorFlow and make TF ops deterministic for the block only:
    Python's and numpy's global generators and TF's op-determinism switch are restored afterwards
    (TF's global seed cannot be read back, so the next unseeded draw continues from ``seed``)."""
    if seed is None:
        yield
        return
    import keras
    from tensorflow.python.framework import config as tf_config

    states = random.getstate(), np.random.get_state()
    was_deterministic = tf_config.is_op_determinism_enabled()
    keras.utils.set_random_seed(int(seed))
    tf_config.enable_op_determinism()  # CPU gradients of gather/segment sums then sum in a fixed order
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        if not was_deterministic:
            tf_config.disable_op_determinism()


class TableTrainer:
    """Compiled train and score steps of a :class:`deepdrim.model.SharedEmbeddingNetwork` over one
    :class:`ImageTable` (kept as a device tensor). Steps take row indices only."""

    def __init__(self, network, table: ImageTable):
        import tensorflow as tf

        self.network = network
        self.table = table
        self.images = tf.constant(table.images)
        self.variables = network.model.trainable_variables
        self.optimizer = network.model.optimizer
        self.optimizer.build(self.variables)
        slots = max(network.n_slots, 1)
        spec = [tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int32),
                tf.TensorSpec([None, slots], tf.int32)]
        self._train = tf.function(per_model(self._train_step), input_signature=spec + [tf.TensorSpec([None], tf.float32)],
                                  autograph=False)

    def _forward(self, primary, unique, index, training: bool):
        import tensorflow as tf

        net = self.network
        a = net.embed_primary(tf.gather(self.images, primary), training)
        if net.tower_b is None:
            return net.head(a, None, training)
        neighbors = tf.gather(net.embed_neighbors(tf.gather(self.images, unique), training), index)
        return net.head(a, neighbors, training)

    def _train_step(self, primary, unique, index, labels):
        import keras
        import tensorflow as tf

        with tf.GradientTape() as tape:
            probs = self._forward(primary, unique, index, True)
            loss = tf.reduce_mean(keras.losses.binary_crossentropy(labels[:, None], probs[:, None]))
        grads = tape.gradient(loss, self.variables)
        if plain_adam(self.optimizer):
            adam_update(self.optimizer, grads, self.variables)
        else:
            self.optimizer.apply_gradients(zip(grads, self.variables))
        return loss

    def _indices(self, rows: np.ndarray):
        """(primary rows, distinct neighbor rows, per-pair positions among them) as int32."""
        if rows.shape[1] == 1:
            return rows[:, 0].astype(np.int32), np.zeros(0, np.int32), np.zeros((len(rows), 1), np.int32)
        unique, inverse = np.unique(rows[:, 1:], return_inverse=True)
        return rows[:, 0].astype(np.int32), unique.astype(np.int32), inverse.reshape(len(rows), -1).astype(np.int32)

    def train_epoch(self, pairs: np.ndarray, labels: np.ndarray, batch_size: int) -> float:
        """One pass over ``pairs`` (indices into the table's pairs) in the given order; mean loss."""
        losses = []
        for start in range(0, len(pairs), batch_size):
            batch = pairs[start : start + batch_size]
            loss = self._train(*self._indices(self.table.rows[batch]), labels[batch].astype(np.float32))
            losses.append(float(loss) * len(batch))
        return float(np.sum(losses) / max(len(pairs), 1))

    def score(self, pairs: np.ndarray) -> np.ndarray:
        """(P,) probabilities of table pairs ``pairs`` with the current weights: each distinct
        neighbor row embedded once (the same compiled functions as prediction, traced once)."""
        return PairScorer(self.network.model).score_table(ImageTable(self.table.images, self.table.rows[pairs]))


def plain_adam(optimizer) -> bool:
    """A Keras Adam with nothing but the Adam update (no AMSGrad, weight decay, clipping, EMA,
    gradient accumulation or loss scaling), which :func:`adam_update` reproduces exactly."""
    import keras

    return (type(optimizer) is keras.optimizers.Adam and not optimizer.amsgrad and optimizer.weight_decay is None
            and optimizer.clipnorm is None and optimizer.clipvalue is None and optimizer.global_clipnorm is None
            and not optimizer.use_ema and not optimizer.gradient_accumulation_steps
            and optimizer.loss_scale_factor is None)


def adam_update(optimizer, grads, variables) -> None:
    """Keras Adam's ``apply_gradients`` for a :func:`plain_adam` optimizer, op for op as its
    ``update_step`` (the same numbers to the bit, a test checks it), written as plain TensorFlow
    ops: Keras traces ~20 ms of distribution-strategy plumbing per variable, which was about half
    of a fit's one-off tracing time on the default network (32 variables)."""
    import tensorflow as tf

    learning_rate = optimizer.learning_rate  # the schedule at the current iteration, as Keras reads it once
    alphas = {}  # Keras computes alpha per variable; it depends on the dtype only

    def alpha_of(dtype):
        if dtype not in alphas:
            lr = tf.cast(learning_rate, dtype)
            local_step = tf.cast(optimizer.iterations + 1, dtype)
            beta_1_power = tf.pow(tf.cast(optimizer.beta_1, dtype), local_step)
            beta_2_power = tf.pow(tf.cast(optimizer.beta_2, dtype), local_step)
            alphas[dtype] = lr * tf.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        return alphas[dtype]

    for grad, variable in zip(grads, variables):
        if grad is None:  # a variable the loss does not reach: Keras skips it too
            continue
        var = variable.value if hasattr(variable, "value") else variable
        index = optimizer._get_variable_index(variable)
        m, v = optimizer._momentums[index].value, optimizer._velocities[index].value
        grad = tf.cast(grad, var.dtype)
        alpha = alpha_of(var.dtype)
        m.assign_add(tf.multiply(tf.subtract(grad, m), 1 - optimizer.beta_1))
        v.assign_add(tf.multiply(tf.subtract(tf.square(grad), v), 1 - optimizer.beta_2))
        var.assign_sub(tf.divide(tf.multiply(m, alpha), tf.add(tf.sqrt(v), optimizer.epsilon)))
    optimizer.iterations.assign_add(1)


def grouped_order(items: np.ndarray, groups: np.ndarray, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """A random order of ``items`` in which each group's items are consecutive (groups and items
    within a group shuffled), cut into batches whose order is shuffled too: a batch spans one or
    two groups, and every epoch sees other batches."""
    group_rank = rng.permutation(int(groups.max()) + 1 if len(groups) else 0)[groups]
    order = items[np.lexsort((rng.random(len(items)), group_rank))]
    batches = np.arange(0, len(order), batch_size)
    return np.concatenate([order[s : s + batch_size] for s in rng.permutation(batches)]) if len(order) else order


def fit_table(
    model,
    table: ImageTable,
    labels: np.ndarray,
    train: np.ndarray,
    val: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    patience: int = 10,
    min_epochs: int = 0,
    monitor: str = "val_loss",
    rng: Optional[np.random.Generator] = None,
    groups: Optional[np.ndarray] = None,
    epoch_callback: Optional[EpochCallback] = None,
    verbose: int = 0,
    steps_per_epoch: Optional[int] = None,
    max_val_pairs: Optional[int] = None,
    plateau_validation: bool = True,
) -> tuple[dict, int]:
    """Train the compiled Keras ``model`` (from :func:`deepdrim.model.build_model`) on the table's
    pairs ``train`` (shuffled each epoch by ``rng``, by :func:`grouped_order` when ``groups`` is
    given, so that a batch holds few TFs and embeds their shared images once), validating on ``val`` after every epoch with
    :class:`BestEpoch`; the best epoch's weights are restored. Returns (history, best epoch).
    With no validation pairs every epoch runs and the last one is kept.

    ``steps_per_epoch``: at most this many batches per epoch, the first ones of that epoch's
    shuffled order (a fresh random subset of batches each epoch); ``None`` or a training set of
    fewer batches: a full pass. The default job's epochs, ``min_epochs`` and patience were set on a
    few hundred training pairs; a budget of steps keeps a fit of thousands of pairs (real data)
    at a similar number of optimizer steps instead of growing with the data.
    ``max_val_pairs``: validate on a random subset of this many of the ``val`` pairs (drawn once,
    the same every epoch) when there are more: validation is scored every epoch, and on large
    data it would cost as much as the training steps. ``plateau_validation=False``: no validation
    scoring in epochs 1 .. ``min_epochs`` - 1 (counted from 1), which can neither be the best epoch nor count
    towards patience (their validation metrics are NaN in the history); the fit is the same."""
    from deepdrim.model import SharedEmbeddingNetwork

    rng = np.random.default_rng(rng)
    labels = np.asarray(labels, dtype=np.float32)
    if max_val_pairs is not None and len(val) > int(max_val_pairs):
        val = np.sort(rng.choice(val, size=int(max_val_pairs), replace=False))
    step_cap = None if steps_per_epoch is None else int(steps_per_epoch) * int(batch_size)
    trainer = TableTrainer(SharedEmbeddingNetwork(model), table)
    tracker = BestEpoch(monitor, patience, min_epochs, epochs)
    history: dict[str, list] = {"loss": [], "val_loss": [], "val_auroc": [], "val_auprc": []}
    best_weights, best_epoch = None, -1
    for epoch in range(int(epochs)):
        order = rng.permutation(train) if groups is None else grouped_order(train, groups[train], int(batch_size), rng)
        if step_cap is not None:
            order = order[:step_cap]
        record = {"loss": trainer.train_epoch(order, labels, int(batch_size))}
        if len(val) and (plateau_validation or epoch >= tracker.first_eligible):
            probs, y = trainer.score(val), labels[val]
            record.update(val_loss=binary_cross_entropy(y, probs), val_auroc=auroc(y, probs), val_auprc=auprc(y, probs))
        else:
            record.update(val_loss=np.nan, val_auroc=np.nan, val_auprc=np.nan)
        for key, value in record.items():
            history[key].append(value)
        if verbose:
            print(f"epoch {epoch + 1}/{epochs} " + " ".join(f"{k}={v:.4f}" for k, v in record.items()))
        stop = False
        if len(val):
            improved, stop = tracker.update(epoch, record)
            if improved:
                best_weights, best_epoch = model.get_weights(), epoch
        else:
            best_epoch = epoch
        if epoch_callback is not None:
            epoch_callback(epoch, record)
        if stop:
            break
    if best_weights is not None:
        model.set_weights(best_weights)
    return history, best_epoch


def per_model(function: Callable) -> Callable:
    """``function`` as a callable of its own for ``tf.function``: TensorFlow counts tracings per
    Python code object, so one model's single trace (inherent: a graph captures that model's
    weights) added up over every fold and job of a process to its "frequent retracing" warning.
    A ``functools.partial`` is its own key: a warning then means one model really retraces."""
    return functools.partial(function)


class _CompiledNetwork(NamedTuple):
    tower_b: object
    primary: Callable
    neighbors: Optional[Callable]
    head: Callable
    head_a: Callable


def compiled_network(model) -> _CompiledNetwork:
    """Graph-compiled Network A, Network B and head of a Keras model (traced once per model and
    kept on it: graph execution ran 2-5x faster than eager layer calls here)."""
    cached = getattr(model, "_deepdrim_compiled", None)
    if cached is not None:
        return cached
    import tensorflow as tf

    from deepdrim.model import SharedEmbeddingNetwork

    net = SharedEmbeddingNetwork(model)
    nb = int(model.input_shape[-1])
    image = [tf.TensorSpec([None, nb, nb], tf.float32)]
    embedding = tf.TensorSpec([None, None], tf.float32)
    compiled = _CompiledNetwork(
        net.tower_b,
        tf.function(per_model(net.embed_primary), input_signature=image, autograph=False),
        tf.function(per_model(net.embed_neighbors), input_signature=image, autograph=False) if net.tower_b is not None else None,
        tf.function(per_model(lambda a, nbr: net.head(a, nbr)),
                    input_signature=[embedding, tf.TensorSpec([None, max(net.n_slots, 1), None], tf.float32)],
                    autograph=False),
        tf.function(per_model(lambda a: net.head(a, None)), input_signature=[embedding], autograph=False))
    model._deepdrim_compiled = compiled
    return compiled


class PairScorer:
    """Scores pairs of one :class:`deepdrim.images.PairImageBuilder` with a trained model: the
    Network B embedding of every self/neighbor image row is computed once and kept (per gene,
    not per pair), so a pair costs its primary image through Network A and the dense head.
    Memory: the embeddings (rows x E) plus one chunk of primary images."""

    def __init__(self, model, builder=None, chunk: int = _SCORE_CHUNK):
        self.builder = builder
        self.chunk = int(chunk)
        self.network = net = compiled_network(model)
        self._primary, self._neighbors, self._head, self._head_a = net.primary, net.neighbors, net.head, net.head_a
        width = int(net.tower_b.output_shape[-1]) if net.tower_b is not None else 0
        self._embedding = np.zeros((0, width), dtype=np.float32)
        self._known = np.zeros(0, dtype=bool)

    def _ensure_embeddings(self, images: np.ndarray, rows: np.ndarray) -> None:
        """Embed the rows of ``images`` not embedded yet (rows are stable: the cache only grows)."""
        need = np.unique(rows)
        if len(self._known) <= need[-1]:
            size = max(int(need[-1]) + 1, 2 * len(self._known))
            self._known = np.concatenate([self._known, np.zeros(size - len(self._known), dtype=bool)])
        new = need[~self._known[need]]
        for start in range(0, len(new), self.chunk):
            part = new[start : start + self.chunk]
            embedded = np.asarray(self._neighbors(images[part]))
            if self._embedding.shape[0] < len(self._known):
                grown = np.zeros((len(self._known), embedded.shape[1]), dtype=np.float32)
                grown[: len(self._embedding)] = self._embedding
                self._embedding = grown
            self._embedding[part] = embedded
            self._known[part] = True

    def _score_rows(self, images: np.ndarray, rows: np.ndarray) -> np.ndarray:
        a = self._primary(images[rows[:, 0]])
        if self.network.tower_b is None:
            return np.asarray(self._head_a(a))
        self._ensure_embeddings(images, rows[:, 1:])
        return np.asarray(self._head(a, self._embedding[rows[:, 1:]]))

    def score(self, pairs: np.ndarray) -> np.ndarray:
        """(P,) link probabilities of validated (P, 2) gene pairs of the builder, chunk by chunk."""
        out = []
        for start in range(0, len(pairs), self.chunk):
            rows = self.builder.rows(pairs[start : start + self.chunk])
            out.append(self._score_rows(self.builder.images, rows))
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0)

    def score_table(self, table: ImageTable) -> np.ndarray:
        """(P,) link probabilities of the pairs of an image table."""
        out = [self._score_rows(table.images, table.rows[s : s + self.chunk]) for s in range(0, len(table.rows), self.chunk)]
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0)
