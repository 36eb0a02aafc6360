"""Image generation: paper eq. 1-2, reference order and orientation, neighbors, batching."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepdrim.histograms import bin_codes, normalise_histogram
from deepdrim.images import PairImageBuilder, log_expression, neighbor_scores, pair_images, top_positive_neighbors


def reference_image(x_u, x_v, n_bins=32):
    """The reference's recipe: numpy.histogram2d(...)[0].T on eq.-1 values, then eq. 2."""
    hist = np.histogram2d(x_u, x_v, bins=n_bins)[0].T
    return np.log10(hist / len(x_u) + 1e-4) / 4 + 1


def test_eq1_hand_values():
    out = log_expression(np.array([[0.0, 0.99, 9.99, 99.99]]))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[-2.0, 0.0, 1.0, 2.0]], atol=1e-6)


def test_eq2_hand_values():
    counts = np.array([[0.0, 10.0], [100.0, 1000.0]])
    # H/N = 0, 0.01, 0.1, 1 -> log10(x + 1e-4)/4 + 1
    expected = np.log10(np.array([[1e-4, 0.0101], [0.1001, 1.0001]])) / 4 + 1
    np.testing.assert_allclose(normalise_histogram(counts, 1000), expected, rtol=1e-6)
    assert normalise_histogram(np.zeros((2, 2)), 10).max() == 0.0  # empty bin -> exactly 0


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n_cells=st.integers(2, 300), n_bins=st.sampled_from([4, 16, 32]))
def test_primary_equals_histogram2d(seed, n_cells, n_bins):
    rng = np.random.default_rng(seed)
    counts = rng.negative_binomial(2, 0.3, size=(n_cells, 5)).astype(float)
    counts[:, 4] = 3.0  # a constant gene
    pairs = np.array([[0, 1], [1, 0], [2, 4], [4, 3]])
    images = pair_images(counts, pairs, n_neighbors=0, n_bins=n_bins)
    x = log_expression(counts)
    for k, (a, b) in enumerate(pairs):
        np.testing.assert_allclose(images[k, 0], reference_image(x[:, a], x[:, b], n_bins), atol=1e-6)


def test_orientation_rows_index_second_gene():
    # gene 0 takes two values, gene 1 is constant: the image has one non-empty row (v = gene 1)
    counts = np.array([[0.0, 5.0], [100.0, 5.0], [0.0, 5.0], [100.0, 5.0]])
    image = pair_images(counts, [[0, 1]], n_neighbors=0)[0, 0]
    rows, cols = np.nonzero(image)
    assert set(rows) == {16}  # constant gene: numpy's range value-/+0.5 puts it in the middle bin
    assert set(cols) == {0, 31}  # gene 0 spans its own min..max along the columns


def test_constant_gene_is_defined_without_warning():
    counts = np.column_stack([np.arange(10.0), np.full(10, 2.0), np.arange(10.0)[::-1]])
    with np.errstate(all="raise"):
        images = pair_images(counts, [[1, 0]], n_neighbors=0)
    assert np.isfinite(images).all()


def test_bin_codes_match_numpy_edges():
    rng = np.random.default_rng(1)
    values = rng.normal(size=(500, 6)).astype(np.float32)
    values[:7, 2] = values[:, 2].max()  # ties at the maximum go to the last bin
    codes = bin_codes(values, 32)
    for g in range(6):
        edges = np.linspace(values[:, g].min(), values[:, g].max(), 33)
        expected = np.clip(np.searchsorted(edges, values[:, g], side="right") - 1, 0, 31)
        np.testing.assert_array_equal(codes[:, g], expected)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n_cells=st.integers(2, 200), levels=st.integers(1, 12),
       n_bins=st.sampled_from([2, 7, 32]))
def test_bin_codes_equal_histogram2d_assignment(seed, n_cells, levels, n_bins):
    # few distinct values put many cells exactly on bin edges, where the rule matters
    rng = np.random.default_rng(seed)
    values = (rng.integers(0, levels, size=(n_cells, 4)) * rng.uniform(0.1, 3.0, size=4)).astype(np.float32)
    codes = bin_codes(values, n_bins)
    for g in range(4):
        expected = np.histogram2d(values[:, g], values[:, g], bins=n_bins)[0].diagonal()
        np.testing.assert_array_equal(np.bincount(codes[:, g], minlength=n_bins), expected)


@pytest.mark.parametrize("n_bins", [7, 32])
def test_bin_codes_at_and_beside_every_edge(n_bins):
    # float32 values on each bin edge and one ulp either side: the cases a width-based guess gets
    # wrong in both directions (caught by the exact correction against numpy's edges)
    rng = np.random.default_rng(n_bins)
    columns = []
    for _ in range(20):
        low = np.float32(rng.uniform(-3, 3))
        high = np.float32(low + rng.uniform(1e-3, 10))
        edges = np.linspace(np.float64(low), np.float64(high), n_bins + 1).astype(np.float32)
        near = np.concatenate([edges, np.nextafter(edges, np.float32(np.inf)), np.nextafter(edges, np.float32(-np.inf))])
        columns.append(np.clip(np.concatenate([[low, high], near]), low, high).astype(np.float32))
    values = np.column_stack(columns)
    codes = bin_codes(values, n_bins)
    for g in range(values.shape[1]):
        edges = np.linspace(values[:, g].min(), values[:, g].max(), n_bins + 1)
        expected = np.clip(np.searchsorted(edges, values[:, g], side="right") - 1, 0, n_bins - 1)
        np.testing.assert_array_equal(codes[:, g], expected)
        hist = np.histogram2d(values[:, g], values[:, g], bins=n_bins)[0].diagonal()
        np.testing.assert_array_equal(np.bincount(codes[:, g], minlength=n_bins), hist)


def reference_pair_images(counts, pairs, n):
    """The paper's recipe image by image: one histogram2d per image, neighbors ranked per pair."""
    x = log_expression(counts)
    cov = np.cov(counts, rowvar=False)

    def best(g, exclude):
        order = [i for i in np.argsort(-cov[g], kind="stable") if i not in exclude and cov[g, i] > 0]
        return order[:n]

    out = np.zeros((len(pairs), 2 * n + 3, 32, 32))
    for k, (a, b) in enumerate(pairs):
        out[k, 0], out[k, 1], out[k, 2] = (reference_image(x[:, a], x[:, b]), reference_image(x[:, a], x[:, a]),
                                           reference_image(x[:, b], x[:, b]))
        for i, g in enumerate(best(a, {a, b})):
            out[k, 3 + i] = reference_image(x[:, a], x[:, g])
        for j, g in enumerate(best(b, {a, b})):
            out[k, 3 + n + j] = reference_image(x[:, g], x[:, b])
    return out


def test_every_pair_and_batching_equal_the_reference_recipe():
    # all ordered pairs of 9 genes: partners among the candidates, both orientations of the same
    # gene pair (cached once, transposed), genes with fewer positive covariates than n (zeros)
    counts = _constructed_expression(n_cells=150, seed=7)[:, :9]
    pairs = np.array([(i, j) for i in range(9) for j in range(9) if i != j])
    expected = reference_pair_images(counts, pairs, n=4)
    np.testing.assert_allclose(pair_images(counts, pairs, n_neighbors=4), expected, atol=1e-6)
    builder = PairImageBuilder(counts, n_neighbors=4)
    streamed = np.concatenate(list(builder.iter_batches(pairs[::-1], batch_size=5)))[::-1]
    np.testing.assert_allclose(streamed, expected, atol=1e-6)


def test_build_into_a_given_output():
    counts = _constructed_expression(seed=2)
    builder = PairImageBuilder(counts, n_neighbors=2)
    pairs = np.array([[0, 1], [2, 3], [4, 0]])
    wide = np.full((3, 9, 32, 32), -1.0, dtype=np.float32)
    builder.build(pairs, out=wide[:, ::-1][:, ::-1][:, 1:8])  # a non-contiguous view
    np.testing.assert_array_equal(wide[:, 1:8], pair_images(counts, pairs, n_neighbors=2))
    assert (wide[:, [0, 8]] == -1).all()
    with pytest.raises(ValueError, match="out must be float32"):
        builder.build(pairs, out=np.zeros((3, 7, 32, 32)))


def _constructed_expression(n_cells=400, seed=0):
    """Genes 0 and 1 are the pair; gene 2..6 covary with gene 0 with decreasing strength, gene 7
    covaries negatively with gene 0, gene 8 with gene 1 only, gene 9 is noise."""
    rng = np.random.default_rng(seed)
    z0, z1 = rng.gamma(2.0, 2.0, n_cells), rng.gamma(2.0, 2.0, n_cells)
    cols = [z0, z1]
    for weight in (4.0, 3.0, 2.0, 1.0, 0.5):
        cols.append(weight * z0 + rng.gamma(2.0, 1.0, n_cells))
    cols.append(np.clip(30 - 2 * z0, 0, None))
    cols.append(3 * z1 + rng.gamma(2.0, 1.0, n_cells))
    cols.append(rng.gamma(2.0, 1.0, n_cells))
    return np.column_stack(cols)


def test_neighbor_selection_on_constructed_covariance():
    counts = _constructed_expression()
    cov = np.cov(counts, rowvar=False)
    scores = neighbor_scores(counts, np.array([0, 1]), "covariance")
    np.testing.assert_allclose(scores, cov[[0, 1]], rtol=1e-10)
    top = top_positive_neighbors(scores, np.array([0, 1]), 3)
    assert list(top[0]) == list(np.argsort(-np.where(np.arange(10) == 0, -np.inf, cov[0]))[:3])
    assert 7 not in top[0]  # negatively covarying gene never chosen


@pytest.mark.parametrize("n_ranked", [2, 9])  # a few genes (their rows alone) or most (np.cov whole)
def test_neighbor_scores_are_the_rows_of_np_cov_and_corrcoef(n_ranked):
    counts = _constructed_expression()
    genes = np.arange(n_ranked)[::-1]
    np.testing.assert_allclose(neighbor_scores(counts, genes), np.cov(counts, rowvar=False)[genes], rtol=1e-10)
    np.testing.assert_allclose(neighbor_scores(counts, genes, "correlation"),
                               np.corrcoef(counts, rowvar=False)[genes], rtol=1e-10, atol=1e-12)


def test_top_positive_neighbors_equal_a_full_stable_sort():
    """The partial sort picks what a stable argsort of each row would: ties (many here) by gene index."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        n_genes = int(rng.integers(2, 25))
        genes = rng.integers(0, n_genes, int(rng.integers(1, 6)))
        scores = rng.integers(-2, 4, size=(len(genes), n_genes)).astype(float)
        k = int(rng.integers(1, n_genes + 2))
        masked = scores.copy()
        masked[np.arange(len(genes)), genes] = -np.inf
        order = np.argsort(-masked, axis=1, kind="stable")[:, :k]
        expected = np.where(np.take_along_axis(masked, order, axis=1) > 0, order, -1)
        expected = np.pad(expected, ((0, 0), (0, k - expected.shape[1])), constant_values=-1)
        np.testing.assert_array_equal(top_positive_neighbors(scores, genes, k), expected)


def test_image_order_matches_reference():
    counts = _constructed_expression()
    n = 2
    images = pair_images(counts, [[0, 1]], n_neighbors=n)[0]
    x = log_expression(counts)
    cov = np.cov(counts, rowvar=False)

    def best(g, exclude):
        order = [i for i in np.argsort(-cov[g], kind="stable") if i not in exclude and cov[g, i] > 0]
        return order[:n]

    a_nb, b_nb = best(0, {0, 1}), best(1, {0, 1})
    expected = [reference_image(x[:, 0], x[:, 1]), reference_image(x[:, 0], x[:, 0]),
                reference_image(x[:, 1], x[:, 1])]
    expected += [reference_image(x[:, 0], x[:, i]) for i in a_nb]
    expected += [reference_image(x[:, j], x[:, 1]) for j in b_nb]  # neighbor first in the last group
    assert images.shape == (2 * n + 3, 32, 32)
    np.testing.assert_allclose(images, np.stack(expected), atol=1e-6)


def test_neighbors_exclude_the_partner_gene():
    counts = _constructed_expression()
    counts[:, 1] = counts[:, 2] + 1.0  # gene 1 is now gene 0's strongest covariate
    builder = PairImageBuilder(counts, n_neighbors=3)
    images = builder.build(np.array([[0, 1]]))[0]
    x = log_expression(counts)
    for slot in range(3, 6):
        assert not np.allclose(images[slot], reference_image(x[:, 0], x[:, 1]))


def test_missing_positive_neighbors_are_zero_images():
    rng = np.random.default_rng(3)
    base = rng.gamma(2.0, 2.0, 300)
    # gene 0's only positive covariate besides gene 1 is gene 2; genes 3, 4 covary negatively
    counts = np.column_stack([base, rng.gamma(2, 2, 300), base + rng.gamma(1, 1, 300),
                              np.clip(20 - base, 0, None), np.clip(25 - 2 * base, 0, None)])
    images = pair_images(counts, [[0, 1]], n_neighbors=3, neighbor_score="correlation")[0]
    assert np.any(images[3])  # gene 2
    assert not np.any(images[4]) and not np.any(images[5])  # nothing positive left: zeros


def test_n_neighbors_zero_shape_and_dataframe_names():
    counts = _constructed_expression()
    frame = pd.DataFrame(counts, columns=[f"g{i}" for i in range(counts.shape[1])])
    by_name = pair_images(frame, [("g0", "g1"), ("g2", "g8")], n_neighbors=0)
    by_index = pair_images(counts, np.array([[0, 1], [2, 8]]), n_neighbors=0)
    assert by_name.shape == (2, 1, 32, 32)
    np.testing.assert_array_equal(by_name, by_index)


def test_batches_equal_one_shot():
    counts = _constructed_expression(seed=5)
    pairs = np.array([[i, j] for i in range(4) for j in range(10) if i != j])
    builder = PairImageBuilder(counts, n_neighbors=3)
    streamed = np.concatenate(list(builder.iter_batches(pairs, batch_size=7)))
    np.testing.assert_array_equal(streamed, pair_images(counts, pairs, n_neighbors=3))


def test_transform_none_accepts_negative_values():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(200, 4))
    images = pair_images(values, [[0, 1]], n_neighbors=1, transform="none")
    np.testing.assert_allclose(images[0, 0], reference_image(values[:, 0].astype(np.float32),
                                                             values[:, 1].astype(np.float32)), atol=1e-6)
    with pytest.raises(ValueError, match="negative"):
        pair_images(values, [[0, 1]], n_neighbors=1)


@pytest.mark.parametrize("counts, pairs, kwargs, message", [
    (np.array([[1.0, -1.0, 2.0], [1.0, 2.0, 3.0]]), [[0, 1]], {"n_neighbors": 0}, "negative"),
    (np.array([[1.0, np.nan, 2.0], [1.0, 2.0, 3.0]]), [[0, 1]], {"n_neighbors": 0}, "NaN"),
    (np.ones((1, 3)), [[0, 1]], {"n_neighbors": 0}, "at least 2 cells"),
    (np.ones((5, 3)), [[0, 3]], {"n_neighbors": 0}, "out of range"),
    (np.ones((5, 3)), [[1, 1]], {"n_neighbors": 0}, "itself"),
    (np.ones((5, 3)), [[0, 1]], {"n_neighbors": -1}, "n_neighbors must be an integer >= 0"),
    (np.ones((5, 3)), [[0, 1]], {"n_neighbors": 2}, "at least 4 genes"),
    (np.ones((5, 4)), [[0, 1]], {"n_neighbors": 1, "neighbor_score": "mi"}, "neighbor_score"),
])
def test_validation_messages(counts, pairs, kwargs, message):
    with pytest.raises(ValueError, match=message):
        pair_images(counts, pairs, **kwargs)


def test_unknown_gene_names():
    frame = pd.DataFrame(np.ones((5, 3)), columns=["a", "b", "c"])
    with pytest.raises(ValueError, match="not in the expression"):
        pair_images(frame, [("a", "zzz")], n_neighbors=0)


def test_rows_index_the_same_images_as_build(tiny_dataset):
    """rows() is build() without the copy: per-gene images are shared rows; kept primaries stay."""
    from deepdrim.images import PairImageBuilder

    data, pairs = tiny_dataset
    builder = PairImageBuilder(data.counts, n_neighbors=2)
    kept = builder.rows(pairs.pairs, keep_primary=True)
    expected = PairImageBuilder(data.counts, n_neighbors=2).build(pairs.pairs)
    np.testing.assert_array_equal(builder.images[kept], expected)
    builder.rows(pairs.pairs[::-1][:5])  # scratch rows of another call do not overwrite kept ones
    np.testing.assert_array_equal(builder.images[kept], expected)
    tf_rows = kept[pairs.pairs[:, 0] == pairs.pairs[0, 0], 1]
    assert len(set(tf_rows.tolist())) == 1  # a TF's self image is one row for all its pairs


def test_threaded_image_building_gives_the_pixels_of_one_thread(monkeypatch):
    """Histogram chunks and the output gather run on a thread pool: split into many parts (every
    piece of work threaded, 3 threads), the images equal one thread's and the reference recipe."""
    import deepdrim.histograms as histograms

    counts = _constructed_expression(n_cells=150, seed=7)[:, :9]
    pairs = np.array([(i, j) for i in range(9) for j in range(9) if i != j])
    monkeypatch.setenv("DEEPDRIM_IMAGE_THREADS", "1")
    single = pair_images(counts, pairs, n_neighbors=4)
    monkeypatch.setattr(histograms, "_MIN_PARALLEL_ELEMENTS", 1)
    monkeypatch.setattr(histograms, "_HISTOGRAM_CHUNK", 300)  # two images per bincount: many chunks per part
    monkeypatch.setenv("DEEPDRIM_IMAGE_THREADS", "3")
    assert histograms.default_threads() == 3
    parts = []
    original = histograms.run_parts

    def recording(function, n_items, n_elements):
        parts.append(n_items)
        original(function, n_items, n_elements)

    monkeypatch.setattr(histograms, "run_parts", recording)
    threaded = pair_images(counts, pairs, n_neighbors=4)
    assert parts and max(parts) >= 3
    np.testing.assert_array_equal(threaded, single)
    np.testing.assert_allclose(threaded, reference_pair_images(counts, pairs, n=4), atol=1e-6)


def test_image_threads_setting_is_checked(monkeypatch):
    import deepdrim.histograms as histograms

    monkeypatch.setenv("DEEPDRIM_IMAGE_THREADS", "two")
    with pytest.raises(ValueError, match="DEEPDRIM_IMAGE_THREADS must be a positive integer, got 'two'"):
        histograms.default_threads()
    monkeypatch.setenv("DEEPDRIM_IMAGE_THREADS", "0")
    with pytest.raises(ValueError, match="got '0'"):
        histograms.default_threads()
    monkeypatch.setenv("DEEPDRIM_IMAGE_THREADS", " 2 ")
    assert histograms.default_threads() == 2


def test_a_forked_child_builds_images_with_its_own_threads(monkeypatch):
    """A fork keeps the parent's thread pool object but none of its threads: a child that reused
    it would wait forever. It must make its own pool and give the parent's pixels."""
    import multiprocessing

    import deepdrim.histograms as histograms

    monkeypatch.setattr(histograms, "_MIN_PARALLEL_ELEMENTS", 1)
    monkeypatch.setenv("DEEPDRIM_IMAGE_THREADS", "2")
    counts = _constructed_expression(n_cells=150, seed=3)
    pairs = np.array([(0, 1), (2, 3), (4, 5), (6, 7)])
    parent = pair_images(counts, pairs, n_neighbors=3)  # the parent's pool exists now
    assert histograms._pool is not None
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        child = pool.apply_async(pair_images, (counts, pairs), {"n_neighbors": 3}).get(timeout=60)
    np.testing.assert_array_equal(child, parent)
