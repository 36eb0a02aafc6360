"""benchmarks/bench_real.py trains with exactly the default job's estimator parameters."""
import sys
from pathlib import Path

from tests.conftest import compose_config

ROOT = Path(__file__).resolve().parents[1]


def test_bench_real_uses_the_default_jobs_parameters():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_real
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    from experiments.config.method import estimator_params

    assert bench_real.default_params(ROOT, 3) == estimator_params(compose_config("seed=3"))
