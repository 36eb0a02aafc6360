"""BoolODE dropout (sim/dropout.py) against a per-entry transcription of BoolODE's genDropouts."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sim.dropout import boolode_dropout


def reference_dropout(values, drop_prob, drop_cutoff, uniforms):
    """BoolODE's loop (genes x cells there, cells x genes here) with pre-drawn coins ``uniforms``."""
    genes_by_cells = pd.DataFrame(values.T)
    out = genes_by_cells.copy()
    if drop_cutoff != 0:
        quantile = genes_by_cells.quantile(q=drop_cutoff, axis="columns")
        for idx, row in genes_by_cells.iterrows():
            for col in genes_by_cells.columns:
                if row[col] < quantile.loc[idx]:
                    if uniforms[col, idx] < drop_prob:
                        out.loc[idx, col] = 0.0
    return out.to_numpy().T


@settings(max_examples=60, deadline=None)
@given(
    values=arrays(np.float64, st.tuples(st.integers(1, 12), st.integers(1, 5)),
                  elements=st.one_of(st.integers(0, 4).map(float), st.floats(0, 100, allow_subnormal=False))),
    drop_prob=st.sampled_from([0.0, 0.3, 0.5, 1.0]),
    drop_cutoff=st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_matches_boolode_loop_with_same_uniforms(values, drop_prob, drop_cutoff, seed):
    uniforms = np.random.default_rng(seed).random(values.shape)  # the draw boolode_dropout makes
    expected = reference_dropout(values, drop_prob, drop_cutoff, uniforms)
    assert np.array_equal(boolode_dropout(values, drop_prob, drop_cutoff, seed), expected)


@pytest.mark.parametrize("drop_prob", [0.3, 0.5])
@pytest.mark.parametrize("drop_cutoff", [0.1, 0.5, 0.9])
def test_rate_is_prob_times_cutoff(drop_prob, drop_cutoff):
    values = np.random.default_rng(1).gamma(2.0, 1.0, size=(2000, 50))
    out = boolode_dropout(values, drop_prob, drop_cutoff, random_state=2)
    rate = np.mean(out != values)
    # 100k entries: binomial sd <= 0.0016, the quantile count is exact to 1/2000 per gene
    assert rate == pytest.approx(drop_prob * drop_cutoff, abs=0.01)
    assert np.all(out[out != values] == 0)


def test_input_not_modified_and_dataframe_kept():
    values = np.random.default_rng(0).random((50, 4))
    frame = pd.DataFrame(values.copy(), index=[f"c{i}" for i in range(50)], columns=list("ABCD"))
    before = frame.copy()
    out = boolode_dropout(frame, 0.5, 0.5, 3)
    assert isinstance(out, pd.DataFrame)
    pd.testing.assert_frame_equal(frame, before)
    assert list(out.index) == list(frame.index) and list(out.columns) == list("ABCD")
    assert np.array_equal(out.to_numpy(), boolode_dropout(values, 0.5, 0.5, 3))
    arr_before = values.copy()
    boolode_dropout(values, 1.0, 1.0, 0)
    assert np.array_equal(values, arr_before)


def test_cutoff_zero_drops_nothing_and_full_drop_keeps_column_max():
    values = np.random.default_rng(0).random((30, 3))
    assert np.array_equal(boolode_dropout(values, 1.0, 0.0, 0), values)
    out = boolode_dropout(values, 1.0, 1.0, 0)
    assert np.array_equal(out, np.where(values == values.max(axis=0), values, 0.0))


def test_seeded_and_integer_dtype_kept():
    values = np.random.default_rng(0).integers(0, 10, (40, 5))
    a = boolode_dropout(values, 0.5, 0.7, 9)
    assert a.dtype == values.dtype
    assert np.array_equal(a, boolode_dropout(values, 0.5, 0.7, np.random.default_rng(9)))
    assert not np.array_equal(a, boolode_dropout(values, 0.5, 0.7, 10))


@pytest.mark.parametrize(
    "prob, cutoff, message",
    [(1.5, 0.5, r"drop_prob must be a number in \[0, 1\], got 1.5"), (-0.1, 0.5, "drop_prob"),
     (0.5, 1.1, r"drop_cutoff must be a number in \[0, 1\], got 1.1"), (0.5, float("nan"), "drop_cutoff"), ("0.5", 0.5, "drop_prob")],
)
def test_bad_probabilities(prob, cutoff, message):
    with pytest.raises(ValueError, match=message):
        boolode_dropout(np.ones((3, 2)), prob, cutoff)


def test_bad_values():
    with pytest.raises(ValueError, match="2-D"):
        boolode_dropout(np.ones(3), 0.5, 0.5)
    with pytest.raises(ValueError, match="NaN"):
        boolode_dropout(np.array([[1.0, np.nan], [2.0, 3.0]]), 0.5, 0.5)
    with pytest.raises(ValueError, match="real numbers"):
        boolode_dropout(np.array([["a", "b"]]), 0.5, 0.5)
