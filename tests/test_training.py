"""deepdrim.training: compiled scoring functions traced once per model, without TF's retracing warning."""
import logging

import numpy as np


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_many_models_in_one_process_trace_once_each_without_a_retracing_warning():
    """The folds and jobs of one process build a model each, and each model's graph must be traced
    once (it captures that model's weights). TensorFlow counts tracings per Python code object, so
    before ``per_model`` the fifth model's trace printed "5 out of the last 5 calls ... retracing"."""
    import tensorflow as tf

    from deepdrim.model import build_model
    from deepdrim.training import compiled_network

    images = np.random.default_rng(0).random((5, 8, 8), dtype=np.float32)
    records = _Records()
    logger = tf.get_logger()
    logger.addHandler(records)
    try:
        for _ in range(5):  # TF warns at the fifth tracing of one key
            net = compiled_network(build_model(0, n_bins=8, filters=(2,), embedding=2, dense_units=(2,)))
            probs = net.head_a(net.primary(images))
            net.primary(images[:3])  # another batch size: no retrace (input_signature)
    finally:
        logger.removeHandler(records)
    assert probs.shape == (5,)
    assert net.primary.experimental_get_tracing_count() == 1
    assert net.head_a.experimental_get_tracing_count() == 1
    assert not [m for m in records.messages if "retracing" in m], records.messages


def _adam_model(seed: int):
    import keras

    from deepdrim.model import build_model

    keras.utils.set_random_seed(seed)
    model = build_model(1, n_bins=8, filters=(2,), embedding=3, dense_units=(4,), conv_dropout=0.0,
                        dense_dropout=0.0, dtype="mixed_bfloat16")
    schedule = keras.optimizers.schedules.InverseTimeDecay(0.01, decay_steps=1, decay_rate=1e-3)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule), loss="binary_crossentropy")
    return model


def test_plain_tf_adam_update_matches_keras_adam_to_the_bit():
    """``adam_update`` replaces Keras's per-variable ``apply_gradients`` plumbing in the train step
    (it was half of a fit's tracing time): after several steps of a learning-rate schedule, every
    weight and every Adam slot must equal Keras's own update exactly."""
    import keras
    import tensorflow as tf

    from deepdrim.training import adam_update, plain_adam

    images = tf.constant(np.random.default_rng(1).random((6, 5, 8, 8), dtype=np.float32))
    labels = tf.constant([0.0, 1.0, 1.0, 0.0, 1.0, 0.0])
    models = {}
    for name in ("keras", "ours"):
        model = models[name] = _adam_model(0)
        optimizer = model.optimizer
        optimizer.build(model.trainable_variables)
        assert plain_adam(optimizer)

        @tf.function
        def step(model=model, optimizer=optimizer, name=name):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(keras.losses.binary_crossentropy(labels[:, None], model(images, training=True)))
            grads = tape.gradient(loss, model.trainable_variables)
            if name == "keras":
                optimizer.apply_gradients(zip(grads, model.trainable_variables))
            else:
                adam_update(optimizer, grads, model.trainable_variables)

        for _ in range(4):
            step()
    ours, theirs = models["ours"], models["keras"]
    assert int(ours.optimizer.iterations) == int(theirs.optimizer.iterations) == 4
    assert not np.array_equal(ours.get_weights()[0], _adam_model(0).get_weights()[0])  # it trained
    for a, b in zip(ours.get_weights() + [v.numpy() for v in ours.optimizer.variables],
                    theirs.get_weights() + [v.numpy() for v in theirs.optimizer.variables]):
        np.testing.assert_array_equal(a, b)


def test_adam_with_extras_or_another_optimizer_takes_the_keras_path():
    import keras

    from deepdrim.training import plain_adam

    assert not plain_adam(keras.optimizers.Adam(amsgrad=True))
    assert not plain_adam(keras.optimizers.Adam(clipnorm=1.0))
    assert not plain_adam(keras.optimizers.AdamW())
    assert not plain_adam(keras.optimizers.SGD(momentum=0.9, nesterov=True))
