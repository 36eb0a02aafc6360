"""Print the CV runs of an MLflow sqlite store as a table (issue 10): per run its swept params,
DeepDRIM's pooled ``auroc``, Pearson's ``pcc/auroc`` and the run's wall time; with ``--by KEY``
also the mean over seeds per value of KEY with a 95% t-interval (n_cells as its value,
n_failed_folds as its total over the seeds).

    python benchmarks/collect_runs.py /tmp/laptop/studies --experiment fig4c_neighbors --by neighbors
    python benchmarks/collect_runs.py STORE --experiment fig4d_train_fraction --by data.kind data.path cv.split train_fraction
"""
from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

import pandas as pd

from deepdrim import stats

PARAMS = ("seed", "neighbors", "cells", "drop_prob", "drop_cutoff", "train_fraction", "training.batch_order",
          "training.precision", "training.epochs", "data.n_tfs", "data.n_genes", "data.n_cells", "cv.n_folds",
          "method", "data.dropout", "data.kind", "data.path", "cv.split")
METRICS = ("auroc", "pcc/auroc", "prior/auroc", "target_mean/auroc", "n_cells", "n_failed_folds", "primary/auroc", "augmented/auroc", "deepdrim/auroc",
           "fp_reduction/augmented", "fp_reduction/augmented_transitive", "fp_reduction/deepdrim")


def load_runs(store: str, experiment: str | None) -> pd.DataFrame:
    """One row per FINISHED child run: params of PARAMS, metrics of METRICS, wall seconds."""
    con = sqlite3.connect(Path(store) / "mlflow.db")
    query = ("SELECT r.run_uuid, r.name, (r.end_time - r.start_time) / 1000.0 AS wall_s, e.name AS experiment "
             "FROM runs r JOIN experiments e ON r.experiment_id = e.experiment_id WHERE r.status = 'FINISHED' "
             "AND r.run_uuid NOT IN (SELECT run_uuid FROM tags WHERE key = 'kind' AND value = 'multirun')")
    runs = pd.read_sql(query, con)
    if experiment:
        runs = runs[runs.experiment == experiment]
    params = pd.read_sql("SELECT run_uuid, key, value FROM params", con)
    metrics = pd.read_sql("SELECT run_uuid, key, value FROM latest_metrics", con)
    params = params[params.key.isin(PARAMS)].pivot(index="run_uuid", columns="key", values="value")
    metrics = metrics[metrics.key.isin(METRICS)].pivot(index="run_uuid", columns="key", values="value")
    runs = runs.join(params, on="run_uuid").join(metrics, on="run_uuid").drop(columns="run_uuid")
    for column in params.columns:  # numeric params sort as numbers
        numeric = pd.to_numeric(runs[column], errors="coerce")
        if numeric.notna().sum() == runs[column].notna().sum():
            runs[column] = numeric
    return runs


def format_mean_ci(values: pd.Series) -> str:
    """'mean [low, high]' with a 95% t-interval over the values (one value: no interval)."""
    mean, low, high, n = stats.mean_ci(values)
    if n < 2:
        return f"{mean:.3f}" if n else "-"
    return f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def format_count(values: pd.Series, total: bool) -> str:
    """A count is no sample to put an interval on: its total over seeds, or its value(s)."""
    values = values.dropna()
    if values.empty:
        return "-"
    if total:
        return f"{int(values.sum())}"
    return "/".join(f"{v:g}" for v in sorted(values.unique()))


def format_column(metric: str, values: pd.Series) -> str:
    if metric in ("n_cells", "n_failed_folds"):
        return format_count(values, total=metric == "n_failed_folds")
    return format_mean_ci(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store")
    parser.add_argument("--experiment")
    parser.add_argument("--by", nargs="*", default=[], help="params to group by (mean over seeds)")
    parser.add_argument("--paired", nargs=3, metavar=("KEY", "A", "B"),
                        help="per-seed difference of auroc (and pcc/auroc) at KEY=B minus KEY=A, mean and 95%% CI")
    args = parser.parse_args()
    runs = load_runs(args.store, args.experiment)
    pd.set_option("display.width", 250, "display.max_columns", 40, "display.max_rows", 500)
    print(runs.drop(columns=["experiment"]).to_string(index=False))
    if args.by:
        metrics = [m for m in METRICS if m in runs]
        grouped = runs.groupby(args.by)
        table = pd.DataFrame({m: grouped[m].apply(lambda v, m=m: format_column(m, v)) for m in metrics})
        table["seeds"] = grouped.size()
        table["wall_s (mean)"] = grouped.wall_s.mean().round(0)
        print()
        header = [*args.by, *table.columns]
        print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
        for key, row in table.iterrows():
            key = key if isinstance(key, tuple) else (key,)
            print("| " + " | ".join(str(v) for v in (*key, *row.values)) + " |")
    if args.paired:
        key, a, b = args.paired
        for metric in ("auroc", "pcc/auroc"):
            wide = runs.pivot_table(index="seed", columns=key, values=metric, aggfunc="mean")
            wide.columns = [str(c) for c in wide.columns]
            diff = (wide[b] - wide[a]).dropna()
            print(f"{metric}({key}={b}) - {metric}({key}={a}) per seed: "
                  f"{', '.join(f'{d:+.3f}' for d in diff)}; mean {format_mean_ci(diff)}")


if __name__ == "__main__":
    main()
