"""Shared tiny inputs: seeded, small enough for a 2-core CI."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

TINY_MODEL = dict(conv_filters=(4, 4, 4), embedding=8, dense_units=(8, 4), conv_dropout=0.0, dense_dropout=0.0)


@pytest.fixture(scope="session")
def tiny_dataset():
    """A small GRN simulation and its balanced labelled pairs."""
    from deepdrim.pairs import labelled_pairs
    from sim.grn import simulate_grn

    data = simulate_grn(n_tfs=6, n_genes=30, n_cells=120, n_master=2, random_state=0)
    pairs = labelled_pairs(data.tfs, data.gene_names, data.edge_names, random_state=0)
    return data, pairs


@pytest.fixture()
def rng():
    return np.random.default_rng(0)
