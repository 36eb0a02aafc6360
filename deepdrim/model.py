"""DeepDRIM's Keras 3 network: Network A (primary image) + siamese Network B (neighbor images)."""
from __future__ import annotations

from typing import Sequence

import keras
from keras import layers


def image_tower(n_bins: int = 32, filters: Sequence[int] = (32, 64, 128), embedding: int = 512,
                conv_dropout: float = 0.25, batch_norm: bool = False, name: str = "tower", dtype=None) -> keras.Model:
    """One image -> a 512-d embedding, as the reference: per block Conv(same) -> Conv(valid) ->
    MaxPool 2x2 -> Dropout, then Flatten and a linear Dense. ``batch_norm`` (not in the
    reference) normalises after each block, which lets small training sets leave the 0.693 plateau."""
    image = keras.Input((n_bins, n_bins, 1), name=f"{name}_image")
    x = image
    for i, n_filters in enumerate(filters):
        x = layers.Conv2D(n_filters, 3, padding="same", activation="relu", name=f"{name}_conv{i}a", dtype=dtype)(x)
        x = layers.Conv2D(n_filters, 3, padding="valid", activation="relu", name=f"{name}_conv{i}b", dtype=dtype)(x)
        x = layers.MaxPooling2D(2, name=f"{name}_pool{i}", dtype=dtype)(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"{name}_norm{i}", dtype=dtype)(x)
        x = layers.Dropout(conv_dropout, name=f"{name}_drop{i}", dtype=dtype)(x)
    x = layers.Flatten(name=f"{name}_flatten", dtype=dtype)(x)
    x = layers.Dense(embedding, name=f"{name}_embedding", dtype=dtype)(x)
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
    dtype=None,
) -> keras.Model:
    """DeepDRIM for input (2n+3, n_bins, n_bins): Network A embeds image 0, Network B (one set of
    weights, shared by all 2n+2 neighbor images) embeds the rest; concatenated embeddings ->
    Dropout -> Dense ReLU -> Dropout -> Dense ReLU -> Dropout -> sigmoid. ``n_neighbors=0`` is
    CNNC: the primary image and Network A only. ``dtype``: a Keras dtype policy for every layer
    (``"mixed_bfloat16"``: bfloat16 compute, float32 weights; None = the global policy); the
    output is float32 whatever the policy."""
    n_channels = 2 * n_neighbors + 3 if n_neighbors else 1
    images = keras.Input((n_channels, n_bins, n_bins), name="images")
    tower_a = image_tower(n_bins, filters, embedding, conv_dropout, batch_norm, name="network_a", dtype=dtype)
    primary = layers.Lambda(lambda t: t[:, 0, :, :, None], name="primary")(images)
    features = tower_a(primary)
    if n_neighbors:
        tower_b = image_tower(n_bins, filters, embedding, conv_dropout, batch_norm, name="network_b", dtype=dtype)
        neighbors = layers.Lambda(lambda t: t[:, 1:, :, :, None], name="neighbors")(images)
        embedded = layers.TimeDistributed(tower_b, name="siamese")(neighbors)  # (B, 2n+2, 512)
        flat = layers.Flatten(name="neighbor_embeddings")(embedded)
        features = layers.Concatenate(name="concat")([features, flat])
    x = features
    for i, units in enumerate(dense_units):
        x = layers.Dropout(dense_dropout, name=f"dense_drop{i}", dtype=dtype)(x)
        x = layers.Dense(units, activation="relu", name=f"dense{i}", dtype=dtype)(x)
    x = layers.Dropout(dense_dropout, name="out_drop", dtype=dtype)(x)
    output = layers.Dense(1, activation="sigmoid", name="link_probability", dtype="float32")(x)
    return keras.Model(images, output, name="deepdrim" if n_neighbors else "cnnc")


class SharedEmbeddingNetwork:
    """The network of :func:`build_model` evaluated on an image table instead of per-pair tensors:
    Network A embeds each pair's primary image, Network B embeds each table row once, and a pair
    gathers its 2n+2 neighbor embeddings by row. The same weights and the same function as the
    Keras model (exactly so without dropout): a gene's self and neighbor images are rows shared by
    all its pairs, so per batch (training) or per gene (prediction) Network B runs once per row."""

    def __init__(self, model: keras.Model):
        self.model = model
        self.tower_a = model.get_layer("network_a")
        names = [layer.name for layer in model.layers]
        self.tower_b = model.get_layer("siamese").layer if "siamese" in names else None
        start = names.index("concat") + 1 if self.tower_b is not None else names.index("network_a") + 1
        self.head_layers = model.layers[start:]
        self.n_slots = int(model.input_shape[1]) - 1

    def embed_primary(self, images, training: bool = False):
        """(B, E) float32 Network A embeddings of (B, nb, nb) primary images."""
        import keras.ops as ops

        return ops.cast(self.tower_a(images[..., None], training=training), "float32")

    def embed_neighbors(self, images, training: bool = False):
        """(U, E) float32 Network B embeddings of (U, nb, nb) table rows."""
        import keras.ops as ops

        return ops.cast(self.tower_b(images[..., None], training=training), "float32")

    def head(self, primary_embedding, neighbor_embeddings=None, training: bool = False):
        """(B,) link probabilities from (B, E) Network A and (B, 2n+2, E) Network B embeddings."""
        import keras.ops as ops

        x = primary_embedding
        if neighbor_embeddings is not None:
            flat = ops.reshape(neighbor_embeddings, (ops.shape(neighbor_embeddings)[0], -1))
            x = ops.concatenate([x, flat], axis=1)
        for layer in self.head_layers:
            x = layer(x, training=training)
        return ops.reshape(ops.cast(x, "float32"), (-1,))

    def __call__(self, primary, table, index, training: bool = False):
        """(B,) probabilities of pairs with (B, nb, nb) ``primary`` images whose neighbor images are
        rows ``index`` (B, 2n+2) of ``table`` (U, nb, nb)."""
        import keras.ops as ops

        a = self.embed_primary(primary, training)
        if self.tower_b is None:
            return self.head(a, None, training)
        return self.head(a, ops.take(self.embed_neighbors(table, training), index, axis=0), training)
