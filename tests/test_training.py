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
