"""MAGIC imputation with the real magic package and the on-disk cache (sim/magic.py)."""
import logging
import os

import numpy as np
import pandas as pd
import pytest

from sim.magic import magic_cache_path, magic_impute


@pytest.fixture(scope="module")
def counts():
    rng = np.random.default_rng(0)
    programme = rng.gamma(2.0, 1.0, size=(150, 3)) @ rng.gamma(1.0, 1.0, size=(3, 40))
    return rng.poisson(programme).astype(np.float64) + np.eye(150, 40)  # every cell has counts


@pytest.fixture(scope="module")
def imputed(counts):
    return magic_impute(counts, random_state=0)


def test_output_shape_and_values(counts, imputed):
    before = counts.copy()
    assert imputed.shape == counts.shape and imputed.dtype == np.float64
    assert np.isfinite(imputed).all() and (imputed >= 0).all()
    assert np.array_equal(counts, before)
    # MAGIC smooths: the imputed matrix is less sparse than sqrt-normalised counts
    assert np.mean(imputed == 0) < np.mean(counts == 0)


def test_cache_miss_then_hit(tmp_path, counts, imputed, caplog):
    path = magic_cache_path(counts, tmp_path, random_state=0)
    assert path.parent == tmp_path and path.name.startswith("magic-") and path.suffix == ".npy"
    assert not path.exists()
    with caplog.at_level(logging.INFO, logger="sim.magic"):
        first = magic_impute(counts, random_state=0, cache_dir=tmp_path)
    assert "MAGIC cache miss" in caplog.text
    assert path.is_file()
    assert np.array_equal(first, imputed)
    mtime = path.stat().st_mtime_ns
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="sim.magic"):
        second = magic_impute(counts, random_state=0, cache_dir=tmp_path)
    assert "MAGIC cache hit" in caplog.text
    assert np.array_equal(second, first)
    assert path.stat().st_mtime_ns == mtime  # not rewritten
    assert sorted(os.listdir(tmp_path)) == [path.name]  # atomic write left no temporary file


def test_cache_key_depends_on_data_and_parameters(tmp_path, counts):
    base = magic_cache_path(counts, tmp_path, random_state=0)
    assert magic_cache_path(counts.copy(), tmp_path, random_state=0) == base
    assert magic_cache_path(pd.DataFrame(counts), tmp_path, random_state=0) == base
    assert magic_cache_path(counts, tmp_path, random_state=0, n_pca=100) == base
    variants = [
        magic_cache_path(counts, tmp_path, random_state=1),
        magic_cache_path(counts, tmp_path, random_state=0, knn=7),
        magic_cache_path(counts, tmp_path, random_state=0, t=4),
        magic_cache_path(counts, tmp_path, random_state=0, decay=2),
        magic_cache_path(counts, tmp_path, random_state=0, n_pca=20),
        magic_cache_path(counts, tmp_path, random_state=0, sqrt=False),
        magic_cache_path(counts, tmp_path, random_state=0, normalize=False),
        magic_cache_path(counts.astype(np.float32), tmp_path, random_state=0),
        magic_cache_path(counts[:, :39], tmp_path, random_state=0),
        magic_cache_path(counts + np.eye(150, 40), tmp_path, random_state=0),
    ]
    assert len({base, *variants}) == 1 + len(variants)


def test_dataframe_input_and_pca_path(counts):
    out = magic_impute(pd.DataFrame(counts), knn=4, t=2, n_pca=10, random_state=1)
    assert out.shape == counts.shape and np.isfinite(out).all() and (out >= 0).all()
    assert np.array_equal(out, magic_impute(counts, knn=4, t=2, n_pca=10, random_state=1))


def test_a_cell_with_no_counts_stays_zero_and_leaves_the_others_normalisation_alone(counts, caplog):
    from sim.magic import _preprocess

    empty_cell = counts.copy()
    empty_cell[3] = 0
    with caplog.at_level("WARNING", logger="sim.magic"):
        normalised = _preprocess(empty_cell, normalize=True, sqrt=False)
    assert "1 of 150 cells have zero library size" in caplog.text
    assert (normalised[3] == 0).all()
    np.testing.assert_allclose(np.delete(normalised, 3, axis=0), _preprocess(np.delete(counts, 3, axis=0), True, False))
    imputed = magic_impute(empty_cell, knn=4, t=2, n_pca=10, random_state=0)
    assert imputed.shape == counts.shape and np.isfinite(imputed).all()


def test_bad_input(counts):
    with pytest.raises(ValueError, match="zero library size in all 150 cells"):
        magic_impute(np.zeros_like(counts))
    with pytest.raises(ValueError, match="negative"):
        magic_impute(-counts)
    with pytest.raises(ValueError, match="knn=200"):
        magic_impute(counts, knn=200)
    with pytest.raises(ValueError, match="2-D"):
        magic_impute(counts[0])
    with pytest.raises(ValueError, match="random_state"):
        magic_impute(counts, random_state="x")


def test_magic_preprocessing_only_for_counts():
    from sim.degrade import magic_counts

    assert magic_counts("auto", np.array([[0.0, 3.0], [12.0, 1.0]]))
    assert not magic_counts("auto", np.array([[0.0, 0.31], [2.7, 1.0]]))  # BEELINE's log values
    assert magic_counts("counts", np.array([[0.5]])) and not magic_counts("none", np.array([[1.0]]))
