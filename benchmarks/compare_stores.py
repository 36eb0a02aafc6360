"""Are two stores' numbers the same? Every run's metrics (wall and time metrics excepted) in two
MLflow sqlite stores, matched by experiment, run name and parent/child; prints each run that differs
and the count. For checking that a refactor leaves the studies' numbers unchanged: run the same
studies through the old and the new code into two stores, then compare, e.g.

    git worktree add /tmp/before <old commit>
    (cd /tmp/before && python run.py -m experiment=fig4c_neighbors scale=quick seed=0 paths.store=/tmp/cmp_before)
    python run.py -m experiment=fig4c_neighbors scale=quick seed=0 paths.store=/tmp/cmp_after
    python benchmarks/compare_stores.py /tmp/cmp_before /tmp/cmp_after     # exit 1 when any run differs
"""
from __future__ import annotations

import argparse
import math
import sys

from mlflow.tracking import MlflowClient

#: metrics that measure the machine, not the computation
MACHINE_METRICS = ("wall", "seconds", "time", "samples_per_s", "rss")


def store_metrics(store: str) -> dict[tuple, dict[str, float]]:
    """(experiment, run name, is parent) -> that run's metrics, machine metrics left out."""
    client = MlflowClient(f"sqlite:///{store}/mlflow.db")
    out: dict[tuple, dict[str, float]] = {}
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id], max_results=50_000):
            key = (experiment.name, run.info.run_name, "mlflow.parentRunId" not in run.data.tags)
            out.setdefault(key, {}).update({k: v for k, v in run.data.metrics.items()
                                            if not any(m in k for m in MACHINE_METRICS)})
    return out


def same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before")
    parser.add_argument("after")
    args = parser.parse_args(argv)
    before, after = store_metrics(args.before), store_metrics(args.after)
    differ = 0
    for key in sorted(set(before) | set(after), key=str):
        a, b = before.get(key), after.get(key)
        if a is None or b is None:
            differ += 1
            print(f"only in {'after' if a is None else 'before'}: {key}")
            continue
        keys = sorted(k for k in set(a) | set(b) if k not in a or k not in b or not same(a[k], b[k]))
        if keys:
            differ += 1
            print(f"differs: {key}: " + ", ".join(f"{k} {a.get(k)} -> {b.get(k)}" for k in keys[:5]))
    n_metrics = sum(len(m) for m in after.values())
    print(f"{len(set(before) & set(after)) - differ} runs identical, {differ} differ "
          f"({n_metrics} metrics compared; machine metrics left out)")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
