"""benchmarks/bench_real.py trains with exactly the default job's estimator parameters."""
from tests.conftest import ROOT, benchmark, compose_config

bench_real = benchmark("bench_real")


def test_bench_real_uses_the_default_jobs_parameters():
    from experiments.config.method import estimator_params

    assert bench_real.default_params(ROOT, 3) == estimator_params(compose_config("seed=3"))


def test_both_sides_score_the_same_pairs_of_the_same_folds(tmp_path):
    """The driver cuts pairs and folds once; a worker trains on the other folds' pairs and scores
    exactly the held-out fold's, so base and new are compared on the same test pairs."""
    import argparse

    import numpy as np

    from deepdrim.cv import make_folds

    args = argparse.Namespace(data="default", size="data", folds=3, max_folds=1, epochs=1, params="",
                              progress=False, seed=0, inputs=str(tmp_path / "inputs.npz"))
    data = bench_real.prepare(args, 0, tmp_path / "inputs.npz")
    saved = np.load(tmp_path / "inputs.npz")
    _, test, _ = make_folds(saved["pairs"], 3, "tf", random_state=0)[0]
    assert np.array_equal(np.flatnonzero(saved["fold_of"] == 0), test)
    result = bench_real.worker(args)
    scored = np.flatnonzero([x is not None for x in result["scores"]])
    assert np.array_equal(scored, test) and result["epochs_run"] == [1]
    assert 0.0 <= bench_real.score_auroc(result, data["labels"]) <= 1.0
