"""One behaviour check over every scorer: DeepDRIM and each baseline in deepdrim.baselines.BASELINES.

Same seed, same numbers; the documented output shape ((P, 2) for DeepDRIM's predict_proba, the
scikit-learn contract; (P,) scores for a baseline); the input is not changed; bad input fails
with a one-line ValueError that names the problem."""
import numpy as np
import pytest

from deepdrim import DeepDRIM
from deepdrim.baselines import BASELINES
from tests.conftest import TINY_MODEL

FAST = {"genie3": {"n_estimators": 5}, "grnboost2": {"n_estimators": 20}}


def _deepdrim(expression, pairs, random_state, labelled):
    model = DeepDRIM(n_neighbors=1, epochs=1, batch_size=16, random_state=random_state, **TINY_MODEL)
    return model.fit(expression, labelled.pairs, labelled.labels).predict_proba(pairs)


def _score(name, expression, pairs, random_state, labelled):
    if name == "deepdrim":
        return _deepdrim(expression, pairs, random_state, labelled)
    return BASELINES[name](expression, pairs, random_state, **FAST.get(name, {}))


SCORERS = ["deepdrim", *BASELINES]


@pytest.mark.parametrize("name", SCORERS)
def test_same_seed_same_numbers_and_shape(tiny_dataset, name):
    data, labelled = tiny_dataset
    counts = data.counts.copy()
    pairs = labelled.pairs[:12]
    first = _score(name, counts, pairs, 0, labelled)
    again = _score(name, counts, pairs, 0, labelled)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(counts, data.counts)  # input unchanged
    assert np.isfinite(first).all()
    if name == "deepdrim":
        assert first.shape == (12, 2) and np.allclose(first.sum(axis=1), 1.0) and ((first >= 0) & (first <= 1)).all()
    else:
        assert first.shape == (12,)


@pytest.mark.parametrize("name", SCORERS)
@pytest.mark.parametrize("case, message", [
    ("out_of_range", "out of range"),
    ("self_pair", "itself"),
    ("nan", "NaN"),
    ("one_dimensional", "2-D"),
])
def test_bad_input_is_one_line_value_error(tiny_dataset, name, case, message):
    data, labelled = tiny_dataset
    counts, pairs = data.counts.copy(), labelled.pairs[:4].copy()
    if case == "out_of_range":
        pairs[0, 1] = counts.shape[1]
    elif case == "self_pair":
        pairs[0, 1] = pairs[0, 0]
    elif case == "nan":
        counts[0, 0] = np.nan
    else:
        counts = counts[:, 0]
    with pytest.raises(ValueError, match=message) as error:
        _score(name, counts, pairs, 0, labelled)
    assert "\n" not in str(error.value)
