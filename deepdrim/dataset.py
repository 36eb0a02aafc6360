"""A streaming Keras dataset of pair images: built batch by batch, memory flat in the number of pairs."""
from __future__ import annotations

import math

import keras
import numpy as np

from deepdrim.images import PairImageBuilder


class PairImageSequence(keras.utils.PyDataset):
    """Keras dataset over (pairs, labels): each batch's images come from ``builder.build``;
    shuffled (seeded) between epochs when ``shuffle``."""

    def __init__(self, builder: PairImageBuilder, pairs: np.ndarray, labels=None, batch_size: int = 32,
                 shuffle: bool = False, random_state=None):
        super().__init__(workers=1, use_multiprocessing=False)
        self.builder = builder
        self.pairs = np.asarray(pairs, dtype=np.int64)
        self.labels = None if labels is None else np.asarray(labels, dtype=np.float32)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self._rng = np.random.default_rng(random_state)
        self._order = self._rng.permutation(len(self.pairs)) if shuffle else np.arange(len(self.pairs))

    def __len__(self) -> int:
        return math.ceil(len(self.pairs) / self.batch_size)

    def __getitem__(self, index: int):
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        images = self.builder.build(self.pairs[rows])
        if self.labels is None:
            return (images,)
        return images, self.labels[rows]

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self._order = self._rng.permutation(len(self.pairs))
