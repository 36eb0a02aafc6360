"""DeepDRIM's Keras 3 network: Network A (primary image) + siamese Network B (neighbor images)."""
from __future__ import annotations

from typing import Sequence

import keras
from keras import layers


def image_tower(n_bins: int = 32, filters: Sequence[int] = (32, 64, 128), embedding: int = 512,
                conv_dropout: float = 0.25, batch_norm: bool = False, name: str = "tower") -> keras.Model:
    """One image -> a 512-d embedding, as the reference: per block Conv(same) -> Conv(valid) ->
    MaxPool 2x2 -> Dropout, then Flatten and a linear Dense. ``batch_norm`` (not in the
    reference) normalises after each block, which lets small training sets leave the 0.693 plateau."""
    image = keras.Input((n_bins, n_bins, 1), name=f"{name}_image")
    x = image
    for i, n_filters in enumerate(filters):
        x = layers.Conv2D(n_filters, 3, padding="same", activation="relu", name=f"{name}_conv{i}a")(x)
        x = layers.Conv2D(n_filters, 3, padding="valid", activation="relu", name=f"{name}_conv{i}b")(x)
        x = layers.MaxPooling2D(2, name=f"{name}_pool{i}")(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"{name}_norm{i}")(x)
        x = layers.Dropout(conv_dropout, name=f"{name}_drop{i}")(x)
    x = layers.Flatten(name=f"{name}_flatten")(x)
    x = layers.Dense(embedding, name=f"{name}_embedding")(x)
    return keras.Model(image, x, name=name)


def build_model(
    n_neighbors: int,
    n_bins: int = 32,
    filters: Sequence[int] = (32, 64, 128),
    embedding: int = 512,
    conv_dropout: float = 0.25,
    dense_units: Sequence[int] = (512, 128),
    dense_dropout: float = 0.5,
    batch_norm: bool = False,
) -> keras.Model:
    """DeepDRIM for input (2n+3, n_bins, n_bins): Network A embeds image 0, Network B (one set of
    weights, shared by all 2n+2 neighbor images) embeds the rest; concatenated embeddings ->
    Dropout -> Dense ReLU -> Dropout -> Dense ReLU -> Dropout -> sigmoid. ``n_neighbors=0`` is
    CNNC: the primary image and Network A only."""
    n_channels = 2 * n_neighbors + 3 if n_neighbors else 1
    images = keras.Input((n_channels, n_bins, n_bins), name="images")
    tower_a = image_tower(n_bins, filters, embedding, conv_dropout, batch_norm, name="network_a")
    primary = layers.Lambda(lambda t: t[:, 0, :, :, None], name="primary")(images)
    features = tower_a(primary)
    if n_neighbors:
        tower_b = image_tower(n_bins, filters, embedding, conv_dropout, batch_norm, name="network_b")
        neighbors = layers.Lambda(lambda t: t[:, 1:, :, :, None], name="neighbors")(images)
        embedded = layers.TimeDistributed(tower_b, name="siamese")(neighbors)  # (B, 2n+2, 512)
        flat = layers.Flatten(name="neighbor_embeddings")(embedded)
        features = layers.Concatenate(name="concat")([features, flat])
    x = features
    for i, units in enumerate(dense_units):
        x = layers.Dropout(dense_dropout, name=f"dense_drop{i}")(x)
        x = layers.Dense(units, activation="relu", name=f"dense{i}")(x)
    x = layers.Dropout(dense_dropout, name="out_drop")(x)
    output = layers.Dense(1, activation="sigmoid", name="link_probability")(x)
    return keras.Model(images, output, name="deepdrim" if n_neighbors else "cnnc")
