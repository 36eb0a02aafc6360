"""Neighbor ranking values and lists (raw counts, eq. 1, library-size normalised)."""
import numpy as np
import pytest

from deepdrim.images import PairImageBuilder, log_expression, pair_images
from deepdrim.choices import NEIGHBOR_VALUES
from deepdrim.neighbors import neighbor_lists, neighbor_ranking_values, neighbor_relatedness


def test_ranking_values_by_hand():
    counts = np.array([[1.0, 3.0], [2.0, 2.0], [0.0, 0.0]])  # libraries 4, 4, 0 -> median of non-empty 4
    np.testing.assert_array_equal(neighbor_ranking_values(counts, "raw"), counts)
    np.testing.assert_allclose(neighbor_ranking_values(counts, "log"), log_expression(counts), rtol=1e-6)
    np.testing.assert_allclose(neighbor_ranking_values(counts, "library"), counts)  # already at median depth
    doubled = counts * np.array([[2.0], [1.0], [1.0]])  # cell 0 sequenced twice as deep
    lib = neighbor_ranking_values(doubled, "library")
    np.testing.assert_allclose(lib[0], [1.5, 4.5])  # median library of (8, 4) is 6: 2 * 6/8, 6 * 6/8
    np.testing.assert_allclose(neighbor_ranking_values(doubled, "library_log"), np.log1p(lib))
    with pytest.raises(ValueError, match="normalize must be one of"):
        neighbor_ranking_values(counts, "zscore")


def test_library_normalisation_removes_a_depth_hub():
    """Gene 0 is huge and only tracks depth: raw covariance makes it everyone's first neighbor,
    library-size normalisation does not."""
    rng = np.random.default_rng(0)
    depth = rng.lognormal(0.0, 0.5, size=400)
    latent = rng.normal(size=400)
    genes = np.column_stack([np.full(400, 200.0), np.exp(latent), np.exp(latent), np.exp(-latent), np.ones(400)])
    counts = rng.poisson(depth[:, None] * genes * 5).astype(float)
    raw = neighbor_lists(counts, 1, "raw", genes=[1, 2])
    lib = neighbor_lists(counts, 1, "library_log", genes=[1, 2])
    assert raw[:, 0].tolist() == [0, 0]
    assert lib[:, 0].tolist() == [2, 1]  # the co-regulated partner


def test_neighbor_relatedness_by_hand():
    hops = np.array([[0, 1, 2, 9], [1, 0, 1, 9], [2, 1, 0, 9], [9, 9, 9, 0]], dtype=float)
    neighbors = np.array([[1, 3], [3, -1]])  # gene 0: 1 (1 hop), 3 (far); gene 1: 3 (far), empty
    out = neighbor_relatedness(neighbors, np.array([0, 1]), hops, max_hops=2, n_hubs=1)
    assert out["related"] == pytest.approx(1 / 3) and out["filled"] == pytest.approx(3 / 4)
    assert out["hub_share"] == pytest.approx(2 / 3)  # gene 3 fills 2 of 3 slots
    assert out["lists_with_hub"] == 1.0
    assert out["chance"] == pytest.approx(4 / 6)  # gene 0: 1, 2 near, 3 far; gene 1: 0, 2 near, 3 far


def test_all_normalizations_give_lists_of_the_right_shape():
    counts = np.random.default_rng(1).poisson(3.0, size=(50, 8)).astype(float)
    for normalize in NEIGHBOR_VALUES:
        lists = neighbor_lists(counts, 3, normalize)
        assert lists.shape == (8, 3) and (lists != np.arange(8)[:, None]).all()
    with pytest.raises(ValueError, match="n_neighbors"):
        neighbor_lists(counts, 0)


# ------------------------------------------------------------------ neighbor ranking values in the image builder
def test_neighbor_values_raw_is_the_reference_and_log_follows_neighbor_lists(tiny_dataset):
    data, pairs = tiny_dataset
    chosen = pairs.pairs[:12]
    np.testing.assert_array_equal(pair_images(data.counts, chosen, 3), pair_images(data.counts, chosen, 3,
                                                                                     neighbor_values="raw"))
    raw, log = (PairImageBuilder(data.counts, 3, neighbor_values=v) for v in ("raw", "log"))
    genes = np.unique(chosen)
    for builder, values in ((raw, "raw"), (log, "log")):
        builder.build(chosen)
        np.testing.assert_array_equal(builder._candidates[genes, :3], neighbor_lists(data.counts, 3, values, genes=genes))
    assert (raw._candidates[genes] != log._candidates[genes]).any()  # the option changes the lists
    with pytest.raises(ValueError, match="neighbor_values must be one of"):
        PairImageBuilder(data.counts, 3, neighbor_values="tpm")


def test_estimator_takes_neighbor_values():
    from deepdrim import DeepDRIM

    assert DeepDRIM().get_params()["neighbor_values"] == "raw"
    with pytest.raises(ValueError, match="neighbor_values"):
        DeepDRIM(neighbor_values="zscore")._check_params()
