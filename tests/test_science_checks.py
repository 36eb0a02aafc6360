"""benchmarks/science_checks.py: the supervised tables run end to end on tiny data (they broke
silently once when predict_proba became (P, 2))."""
import numpy as np

from sim.grn import simulate_grn
from tests.conftest import benchmark

science_checks = benchmark("science_checks")


_default_params = science_checks.default_estimator_params


def _tiny_params(seed, n_neighbors=10):
    params = _default_params(seed, n_neighbors=2)
    params.update(epochs=2, min_epochs=1)
    return params


def test_supervised_tables_score_every_tested_pair(monkeypatch):
    monkeypatch.setattr(science_checks, "default_estimator_params", _tiny_params)
    dataset = simulate_grn(n_tfs=9, n_genes=60, n_cells=150, random_state=0)
    table = science_checks.supervised_table(dataset, seed=0)
    assert list(table.split) == ["tf", "tf", "strict"]
    assert table.n.iloc[0] > table.n.iloc[1] > 0  # the strict split tests fewer pairs
    aurocs = table[["deepdrim_auroc", "prior_target_auroc", "pearson_auroc"]].to_numpy()
    assert np.all((aurocs >= 0) & (aurocs <= 1))
    matched = science_checks.matched_size_table(dataset, seed=0)
    assert list(matched.pairs_scored) == ["all", "strict-tested"]
    assert np.all((matched.deepdrim_auroc >= 0) & (matched.deepdrim_auroc <= 1))
