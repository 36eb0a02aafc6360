"""sim.grn realism options: expression-dependent zeros (dropout="nb") and skewed in-degree."""
import numpy as np
import pytest

from sim.grn import simulate_grn

SMALL = dict(n_tfs=8, n_genes=120, n_cells=300, n_master=2)


def top_decile_zero_fraction(counts):
    mean = counts.mean(axis=0)
    top = mean >= np.quantile(mean, 0.9)
    return float((counts[:, top] == 0).mean())


def test_nb_zeros_fall_with_the_mean():
    logistic = simulate_grn(**SMALL, random_state=0).counts
    nb = simulate_grn(**SMALL, dropout="nb", random_state=0).counts
    assert top_decile_zero_fraction(logistic) > 0.3  # the default: zero-inflated at every mean
    assert top_decile_zero_fraction(nb) < 0.05  # droplet-like: highly expressed genes rarely zero
    # at a droplet depth the low-mean genes are mostly zero, the high-mean ones mostly not
    shallow = simulate_grn(**SMALL, dropout="nb", mean_depth=3.0, random_state=0).counts
    mean, zero = shallow.mean(axis=0), (shallow == 0).mean(axis=0)
    low, high = mean <= np.quantile(mean, 0.1), mean >= np.quantile(mean, 0.9)
    assert zero[low].mean() > 0.7 and zero[high].mean() < 0.4


def test_same_network_and_cells_under_either_dropout():
    a = simulate_grn(**SMALL, random_state=1)
    b = simulate_grn(**SMALL, dropout="nb", random_state=1)
    np.testing.assert_array_equal(a.edges, b.edges)
    assert ((a.counts == 0) | (a.counts == b.counts)).all()  # logistic only adds zeros to nb counts


def test_skewed_in_degree():
    uniform = simulate_grn(**SMALL, regulators_per_gene=(1, 4), random_state=2)
    skewed = simulate_grn(**SMALL, regulators_per_gene=(1, 4), in_degree="skewed", random_state=2)

    def share_single(data):
        targets = data.edges[data.edges[:, 1] >= SMALL["n_tfs"], 1]
        degree = np.bincount(targets)[np.unique(targets)]
        return (degree == 1).mean(), degree.max()

    single_u, _ = share_single(uniform)
    single_s, max_s = share_single(skewed)
    assert single_s > single_u + 0.2 and max_s <= 4  # P(1) = 8/15 vs 1/4, never above the range


@pytest.mark.parametrize("kwargs, message", [({"dropout": "zinb"}, "dropout must be one of"),
                                             ({"in_degree": "powerlaw"}, "in_degree must be one of"),
                                             ({"regulators_per_gene": (0, 2)}, "regulators_per_gene")])
def test_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        simulate_grn(**SMALL, **kwargs)
