"""Cell and training-pair sub-sampling (sim/subsample.py)."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.subsample import cells, training_pairs


def test_cells_keeps_order_and_is_seeded():
    x = np.arange(100 * 3).reshape(100, 3)
    out = cells(x, 30, random_state=0)
    assert out.shape == (30, 3)
    rows = out[:, 0] // 3
    assert np.all(np.diff(rows) > 0)  # original order, no repeats
    assert np.array_equal(out, x[rows])
    assert np.array_equal(out, cells(x, 30, random_state=np.random.default_rng(0)))
    assert not np.array_equal(out, cells(x, 30, random_state=1))
    assert np.array_equal(cells(x, 100, 0), x)


def test_cells_dataframe_keeps_index_and_input():
    frame = pd.DataFrame(np.random.default_rng(0).random((50, 4)), index=[f"cell{i}" for i in range(50)], columns=list("abcd"))
    before = frame.copy()
    out = cells(frame, 10, random_state=3)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == list("abcd")
    positions = frame.index.get_indexer(out.index)
    assert np.all(np.diff(positions) > 0)
    pd.testing.assert_frame_equal(out, frame.iloc[positions])
    pd.testing.assert_frame_equal(frame, before)
    assert np.array_equal(out.to_numpy(), cells(frame.to_numpy(), 10, random_state=3))


def test_cells_errors():
    x = np.zeros((4000, 2))
    with pytest.raises(ValueError, match=r"cells=5000 is larger than the data \(4000 cells\)"):
        cells(x, 5000)
    with pytest.raises(ValueError, match="integer count >= 2"):
        cells(x, 1)
    with pytest.raises(ValueError, match=r"a float is a fraction of the data's cells and must be in \(0, 1\]"):
        cells(x, 2.5)


def test_cells_takes_a_fraction_or_none_as_the_study_does():
    x = np.arange(200 * 2).reshape(200, 2)
    assert np.array_equal(cells(x, 0.25, random_state=4), cells(x, 50, random_state=4))  # round(0.25 * 200)
    assert np.array_equal(cells(x, np.int64(30), random_state=4), cells(x, 30, random_state=4))
    assert np.array_equal(cells(x, None), x) and cells(x, 1.0, random_state=0).shape == x.shape


@settings(max_examples=80, deadline=None)
@given(
    n_pos=st.integers(1, 60), n_neg=st.integers(1, 60),
    fraction=st.floats(0.01, 1.0, exclude_min=False), seed=st.integers(0, 2**32 - 1),
)
def test_training_pairs_stratified(n_pos, n_neg, fraction, seed):
    labels = np.random.default_rng(seed).permutation(np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)])
    index = np.arange(1000, 1000 + labels.size)[::-1]  # arbitrary, non-sorted pair indices
    kept = training_pairs(index, labels, fraction, seed)
    pos_of = {v: k for k, v in enumerate(index)}
    where = np.array([pos_of[v] for v in kept])
    assert np.all(np.diff(where) > 0)  # subset, original order, no repeats
    for cls, size in ((1, n_pos), (0, n_neg)):
        got = np.sum(labels[where] == cls)
        assert got == max(1, int(np.floor(fraction * size + 0.5)))
    assert np.array_equal(kept, training_pairs(index, labels, fraction, seed))


def test_training_pairs_fraction_one_is_unchanged_and_errors():
    index = np.array([5, 3, 9, 1])
    labels = np.array([1, 0, 1, 0])
    assert np.array_equal(training_pairs(index, labels, 1.0, 0), index)
    assert training_pairs(index, labels, 0.1, 0).size == 2  # one of each class at least
    for bad in (0, 0.0, -0.5, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"train_fraction must be a number in \(0, 1\]"):
            training_pairs(index, labels, bad)
    with pytest.raises(ValueError, match="train_fraction must be a number in \\(0, 1\\], got 0"):
        training_pairs(index, labels, 0)
    with pytest.raises(ValueError, match="labels"):
        training_pairs(index, labels[:3], 0.5)
    with pytest.raises(ValueError, match="empty"):
        training_pairs([], [], 0.5)
