"""What tells runs apart: the params that vary among them, split into what makes the method (its
label: ``DeepDRIM neighbors=0``) and what makes the pairs and folds (its context: ``seed=1``).

A comparison pairs runs by TF only within one context (same data, seed, folds), labels each by its
method and the swept method-side values only (never the override string with its paths), and takes
as reference the DeepDRIM run of its context with the most neighbors. Read from the params every job
logs (the flattened resolved config), so a run started from any command line is named alike.
"""
from __future__ import annotations

from typing import Optional

from mlflow.entities import Run

from deepdrim.comparison import DISPLAY
from experiments.tracking.job_runs import WHERE_PREFIXES
#: params that make the method: varying ones go into the label, the rest into the context
METHOD_KEYS = ("method", "neighbors")
METHOD_PREFIXES = ("model.", "training.")
#: params that only mirror another (``model.n_neighbors: ${neighbors}``)
MIRRORS = ("model.n_neighbors",)
#: method-side params a method preset sets (conf/method/*.yaml): the method's name already says them
SET_BY_METHOD = ("model.inputs",)


def method_of(run: Run) -> str:
    return run.data.tags.get("method") or run.data.params.get("method") or "deepdrim"


def is_method_key(key: str) -> bool:
    return key in METHOD_KEYS or key.startswith(METHOD_PREFIXES)


def _applies(method: str, key: str) -> bool:
    """Whether a method-side param means anything for ``method``: DeepDRIM (and its target-only
    ablation) all of them, CNNC all but neighbors (always 0), a baseline none (it trains nothing)."""
    if key == "method" or key in MIRRORS or key in SET_BY_METHOD:
        return False
    if method in ("deepdrim", "target_only"):
        return True
    return method == "cnnc" and key != "neighbors"


def varying(runs: list[Run]) -> list[str]:
    """The params (sorted) whose value differs among ``runs`` (absent counts as a value)."""
    keys = sorted({k for run in runs for k in run.data.params if not k.startswith(WHERE_PREFIXES)})
    return [k for k in keys if len({run.data.params.get(k) for run in runs}) > 1]


def label(run: Run, keys: list[str]) -> str:
    """``DeepDRIM neighbors=10``, ``CNNC``, ``PCC``: the method and its swept method-side values."""
    method = method_of(run)
    shown = [f"{k}={run.data.params.get(k)}" for k in keys if is_method_key(k) and _applies(method, k)]
    return " ".join([DISPLAY.get(method, method), *shown])


def context(run: Run, keys: list[str]) -> str:
    """``seed=1 data.n_cells=500``: the swept values that change the pairs or folds."""
    return " ".join(f"{k}={run.data.params.get(k)}" for k in keys if not is_method_key(k))


def fold_key(run: Run) -> tuple:
    """The params that decide a run's pairs and folds (every param but the method-side ones and
    where it was logged): runs with one fold key can be paired by TF."""
    return tuple(sorted((k, v) for k, v in run.data.params.items()
                        if not k.startswith(WHERE_PREFIXES) and not is_method_key(k)))


def reference_rank(run: Run) -> tuple:
    """Sort key putting a context's reference first: DeepDRIM, the most neighbors first."""
    try:
        neighbors = int(run.data.params.get("neighbors", 0))
    except ValueError:
        neighbors = 0
    return (method_of(run) != "deepdrim", -neighbors)


def names(runs: list[Run]) -> dict[str, tuple[str, str]]:
    """run id -> (label, context) over ``runs``."""
    keys = varying(runs)
    return {run.info.run_id: (label(run, keys), context(run, keys)) for run in runs}


def newest_comparable(runs: list[Run]) -> Optional[list[Run]]:
    """Of runs newest first (ad-hoc single jobs), the newest group on one fold key holding two or more
    method labels, one run (the newest) per label; None when no group has two."""
    groups: dict[tuple, list[Run]] = {}
    for run in runs:
        groups.setdefault(fold_key(run), []).append(run)
    for group in groups.values():  # dicts keep insertion order: the group of the newest run first
        labels = names(group)
        newest: dict[str, Run] = {}
        for run in group:
            newest.setdefault(labels[run.info.run_id][0], run)
        if len(newest) > 1:
            return list(newest.values())
    return None
