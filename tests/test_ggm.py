"""Gaussian graphical model datasets (sim/ggm.py): precision, sampling, pair labels, augmented images."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepdrim.images import pair_images
from deepdrim import multi_images
from sim import ggm


@settings(max_examples=60, deadline=None)
@given(n_genes=st.integers(2, 12), seed=st.integers(0, 2**32 - 1), margin=st.floats(0.01, 2.0))
def test_precision_pattern_range_and_definiteness(n_genes, seed, margin):
    theta = ggm.sample_precision(n_genes, seed, margin=margin)
    assert theta.shape == (n_genes, n_genes)
    assert np.array_equal(theta, theta.T)
    off = theta[~np.eye(n_genes, dtype=bool)]
    nonzero = np.abs(off[off != 0])
    assert np.all((nonzero >= 0.25) & (nonzero <= 1.0))
    assert np.linalg.eigvalsh(theta)[0] == pytest.approx(margin, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(n_genes=st.integers(2, 10), seed=st.integers(0, 2**32 - 1))
def test_diagonal_fix_keeps_the_drawn_off_diagonal(n_genes, seed):
    # the same draws with a different margin differ only on the diagonal
    a = ggm.sample_precision(n_genes, seed, margin=0.1)
    b = ggm.sample_precision(n_genes, seed, margin=5.0)
    off = ~np.eye(n_genes, dtype=bool)
    assert np.array_equal(a[off], b[off])
    assert np.allclose(np.diag(b) - np.diag(a), 4.9)
    # diagonal = |smallest eigenvalue of the off-diagonal part| + margin
    lam = np.linalg.eigvalsh(np.where(off, a, 0.0))[0]
    assert np.allclose(np.diag(a), abs(lam) + 0.1)


def test_edge_probability_is_about_half():
    theta = ggm.sample_precision(200, 0)
    upper = theta[np.triu_indices(200, 1)]
    assert np.mean(upper != 0) == pytest.approx(0.5, abs=0.01)  # 19,900 entries: sd 0.0035
    assert np.mean(upper[upper != 0] < 0) == pytest.approx(0.5, abs=0.02)


@pytest.mark.parametrize("kwargs", [{"margin": 0.0}, {"margin": -1.0}, {"low": 0.0}, {"low": 2.0}, {"edge_prob": 1.5}])
def test_precision_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        ggm.sample_precision(4, 0, **kwargs)


@pytest.mark.parametrize("n_genes", [1, 0, 2.5, True])
def test_precision_needs_two_genes(n_genes):
    with pytest.raises(ValueError, match="n_genes"):
        ggm.sample_precision(n_genes, 0)


def test_empirical_covariance_matches_inverse_precision():
    n = 200_000
    x, theta = ggm.sample_ggm(4, n, random_state=3)
    assert x.shape == (n, 4) and x.dtype == np.float64
    sigma = np.linalg.inv(theta)
    emp = np.cov(x, rowvar=False)
    # standard error of a sample covariance entry of a Gaussian: sqrt((s_ii s_jj + s_ij^2) / n);
    # 6 standard errors: a false failure has probability < 1e-8 per entry
    se = np.sqrt((np.outer(np.diag(sigma), np.diag(sigma)) + sigma**2) / n)
    assert np.all(np.abs(emp - sigma) < 6 * se)
    assert np.all(np.abs(x.mean(axis=0)) < 6 * np.sqrt(np.diag(sigma) / n))


def test_same_seed_same_data_and_generator_accepted():
    x1, t1 = ggm.sample_ggm(5, 100, random_state=7)
    x2, t2 = ggm.sample_ggm(5, 100, random_state=np.random.default_rng(7))
    x3, _ = ggm.sample_ggm(5, 100, random_state=8)
    assert np.array_equal(x1, x2) and np.array_equal(t1, t2)
    assert not np.array_equal(x1, x3)


def test_sample_ggm_passes_precision_kwargs():
    _, theta = ggm.sample_ggm(6, 10, random_state=0, edge_prob=0.0, margin=2.0)
    assert np.array_equal(theta, 2.0 * np.eye(6))


def chain_and_isolated():
    theta = np.eye(4) * 2.0
    theta[0, 1] = theta[1, 0] = 0.5
    theta[1, 2] = theta[2, 1] = -0.5
    return theta


def test_pair_truth_on_constructed_precision():
    labels = ggm.pair_truth(chain_and_isolated())
    assert labels[0, 1] == labels[1, 2] == "direct"
    assert labels[0, 2] == labels[2, 0] == "transitive"
    assert labels[0, 3] == labels[3, 2] == "random"
    assert np.array_equal(labels, labels.T)
    got = ggm.classify_pairs(chain_and_isolated(), [(0, 1), (0, 2), (0, 3), (2, 0)])
    assert list(got) == ["direct", "transitive", "random", "transitive"]


def test_pair_truth_rejects_bad_input():
    with pytest.raises(ValueError, match="square"):
        ggm.pair_truth(np.zeros((2, 3)))
    asym = chain_and_isolated()
    asym[0, 3] = 0.1
    with pytest.raises(ValueError, match="symmetric"):
        ggm.pair_truth(asym)
    with pytest.raises(ValueError, match="different genes"):
        ggm.classify_pairs(chain_and_isolated(), [(1, 1)])
    with pytest.raises(ValueError, match="out of range"):
        ggm.classify_pairs(chain_and_isolated(), [(0, 4)])


def test_study_pairs():
    pos, neg = ggm.sample_study_pairs(chain_and_isolated(), random_state=0)
    assert pos in [(0, 1), (1, 2)]
    assert neg in [(0, 2), (0, 3), (1, 3), (2, 3)]
    assert ggm.sample_study_pairs(np.eye(4)) is None  # no direct pair
    full = np.full((3, 3), 0.3) + np.eye(3)
    assert ggm.sample_study_pairs(full) is None  # no independent pair


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_genes=st.integers(3, 6))
def test_dataset_has_both_pair_kinds(seed, n_genes):
    d = ggm.sample_ggm_dataset(n_genes, 50, seed)
    expression, precision, (pos, neg), kind = d.values[0], d.precision[0], map(tuple, d.pairs), d.kinds[1]
    assert expression.shape == (50, n_genes) and d.labels.tolist() == [1, 0] and d.dataset.tolist() == [0, 0]
    assert pos[0] < pos[1] and neg[0] < neg[1]
    assert precision[pos] != 0 and precision[neg] == 0
    assert kind == ggm.classify_pairs(precision, [neg])[0] and kind in ("transitive", "random")


def test_dataset_is_seeded():
    a = ggm.sample_ggm_dataset(4, 30, 11)
    b = ggm.sample_ggm_dataset(4, 30, 11)
    assert np.array_equal(a.values, b.values) and np.array_equal(a.pairs, b.pairs)


def test_study_stacks_datasets_drawn_from_their_own_seeds():
    study = ggm.sample_ggm_study(12, 4, 200, seed=3)
    assert study.values.shape == (12, 200, 4) and study.precision.shape == (12, 4, 4)
    assert study.labels.tolist() == [1, 0] * 12
    assert study.dataset.tolist() == np.repeat(np.arange(12), 2).tolist()
    again = ggm.sample_ggm_study(12, 4, 200, seed=3)
    assert np.array_equal(study.values, again.values) and np.array_equal(study.pairs, again.pairs)
    # dataset k is sample_ggm_dataset with the k-th child seed (a larger study extends a smaller one)
    k = 5
    one = ggm.sample_ggm_dataset(4, 200, np.random.default_rng(np.random.SeedSequence(3).spawn(12)[k]))
    assert np.array_equal(study.values[k], one.values[0]) and np.array_equal(study.precision[k], one.precision[0])
    assert np.array_equal(study.pairs[2 * k:2 * k + 2], one.pairs) and list(study.kinds[2 * k:2 * k + 2]) == list(one.kinds)
    assert study.kinds[11] == ggm.classify_pairs(study.precision[5], study.pairs[11:])[0]
    assert set(study.kinds[1::2]) <= {"transitive", "random"} and set(study.kinds[::2]) == {"direct"}
    assert np.array_equal(ggm.sample_ggm_study(5, 4, 200, seed=3).values, study.values[:5])


@pytest.mark.parametrize("n_genes", [2, 1])
def test_dataset_needs_three_genes(n_genes):
    with pytest.raises(ValueError, match="GGM study needs at least 3 genes"):
        ggm.sample_ggm_dataset(n_genes, 100, 0)


@pytest.mark.parametrize("edge_prob", [0.0, 1.0])
def test_dataset_rejects_edge_prob_that_cannot_give_both_kinds(edge_prob):
    with pytest.raises(ValueError, match="edge_prob"):
        ggm.sample_ggm_dataset(4, 10, 0, edge_prob=edge_prob)


def single_image(values, u, v):
    return pair_images(values[:, [u, v]], [(0, 1)], n_neighbors=0, transform="none")[0, 0]


def test_augmented_image_layout():
    d = ggm.sample_ggm_dataset(4, 300, 5)
    values = d.values[0].copy()
    a, b = d.pairs[0]
    c, e = [g for g in range(4) if g not in (a, b)]
    img = multi_images.augmented_image_from_expression(values, (a, b))
    assert img.shape == (96, 96) and img.dtype == np.float32
    assert np.array_equal(values, d.values[0])  # input not modified

    def tile(r, col):
        return img[32 * r : 32 * (r + 1), 32 * col : 32 * (col + 1)]

    primary = pair_images(values, [(a, b)], n_neighbors=0, transform="none")[0, 0]
    assert np.array_equal(tile(1, 1), primary)
    assert np.array_equal(tile(0, 0), single_image(values, a, a))
    assert np.array_equal(tile(0, 1), single_image(values, a, c))
    assert np.array_equal(tile(0, 2), single_image(values, a, e))
    assert np.array_equal(tile(2, 0), single_image(values, b, b))
    assert np.array_equal(tile(2, 1), single_image(values, b, c))
    assert np.array_equal(tile(2, 2), single_image(values, b, e))
    assert not tile(1, 0).any() and not tile(1, 2).any()


def test_batched_images_match_single():
    study = ggm.sample_ggm_study(6, 4, 200, seed=0)
    values = list(study.values)
    pairs = [tuple(study.pairs[2 * s + 1 - s % 2]) for s in range(6)]  # odd datasets: positive, even: negative
    aug = multi_images.augmented_images(values, pairs)
    prim = multi_images.primary_images(values, pairs)
    assert aug.shape == (6, 96, 96) and prim.shape == (6, 32, 32)
    for k in range(6):
        assert np.array_equal(aug[k], multi_images.augmented_image_from_expression(values[k], pairs[k]))
        assert np.array_equal(prim[k], aug[k, 32:64, 32:64])
    # an already stacked (N, cells, 4) array works too
    assert np.array_equal(multi_images.augmented_images(np.stack(values), pairs), aug)


def test_augmented_image_from_tiles():
    tiles = np.arange(7 * 4, dtype=float).reshape(7, 2, 2)
    out = multi_images.augmented_image(tiles)
    assert out.shape == (6, 6)
    assert np.array_equal(out[2:4, 2:4], tiles[0])
    assert np.array_equal(multi_images.augmented_image(np.stack([tiles, tiles])), np.stack([out, out]))
    with pytest.raises(ValueError, match="7, nb, nb"):
        multi_images.augmented_image(np.zeros((6, 2, 2)))


def test_image_input_errors():
    x = np.zeros((10, 5))
    with pytest.raises(ValueError, match="4-gene"):
        multi_images.augmented_images([x], [(0, 1)])
    with pytest.raises(ValueError, match="dataset"):
        multi_images.primary_images([x, x], [(0, 1)])
    with pytest.raises(ValueError, match="different genes"):
        multi_images.primary_images([x], [(2, 2)])
    with pytest.raises(ValueError, match="same shape"):
        multi_images.primary_images([x, np.zeros((11, 5))], [(0, 1), (0, 1)])
