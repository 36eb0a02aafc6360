"""Which batches to train on: work per sample against held-out AUROC, for the training step's batch layouts.

A training step embeds each distinct neighbor image (table row) of its batch once with Network B,
so the rows a batch shares set the step's cost. Batches of one or two TFs (``batch_order="grouped"``,
the default) share the TF side of their pairs: ~11.5 distinct rows per pair at n=10, against 11
if every batch held one TF. Fewer rows need batches whose *targets* repeat too. This script
measures such layouts on the default data (``sim.grn.simulate_grn``, 840 balanced labelled pairs,
the default network and training settings of ``bench_training.DEFAULT_PARAMS``) over seeds:

- ``grouped``: the estimator as it is (TF-grouped shuffle, batch 32);
- ``tf_blocks_4``: TFs shuffled into blocks of 4, a block's pairs sorted by target, then cut into
  batches (pairs of one target and several TFs share the target's rows);
- ``by_target``: every pair sorted by (shuffled) target, then cut (fewest rows on this data);
- ``batch_64``: the grouped shuffle with batches of 64 (fewer, larger steps).

Per seed: a fresh dataset and label draw, a quarter of the TFs held out as a test set, the model
fitted on the rest (its own validation split by TF, as ``DeepDRIM.fit``), then held-out AUROC;
rows per pair counts the Network B rows per training pair; fit seconds are wall-clock (noisy on
a shared machine: compare rows per pair, and step time in ``bench_training.py``). A layout is
worth its speed only if the paired held-out AUROC difference to ``grouped`` is not negative.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_batch_order.py [--seeds 8] [--layouts grouped,by_target]
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Callable, Optional

import numpy as np

LAYOUTS = ("grouped", "tf_blocks_4", "by_target", "batch_64")


def target_sorted_order(targets: np.ndarray, tf_block: Optional[int]) -> Callable:
    """A ``grouped_order`` replacement: TFs shuffled into blocks of ``tf_block`` (None: one block),
    pairs sorted by shuffled target within a block, batches cut and their order shuffled."""

    def order(items: np.ndarray, groups: np.ndarray, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        target = targets[items]
        block = rng.permutation(int(groups.max()) + 1)[groups] // (tf_block or len(groups))
        key = rng.permutation(int(target.max()) + 1)[target]
        ordered = items[np.lexsort((rng.random(len(items)), key, block))]
        starts = np.arange(0, len(ordered), batch_size)
        return np.concatenate([ordered[s : s + batch_size] for s in rng.permutation(starts)])

    return order


def run(layout: str, seed: int) -> dict:
    import deepdrim.training as training
    from bench_training import DEFAULT_PARAMS
    from deepdrim import DeepDRIM
    from deepdrim.metrics import auroc
    from deepdrim.pairs import labelled_pairs
    from sim.grn import simulate_grn

    data = simulate_grn(random_state=seed)
    lp = labelled_pairs(data.tfs, data.gene_names, data.edge_names, random_state=seed)
    tfs = np.unique(lp.pairs[:, 0])
    test_tfs = np.random.default_rng(1000 + seed).choice(tfs, len(tfs) // 4, replace=False)
    test = np.isin(lp.pairs[:, 0], test_tfs)
    train_pairs, train_labels = lp.pairs[~test], lp.labels[~test]
    params = {**DEFAULT_PARAMS, "random_state": seed}
    original_order, original_indices = training.grouped_order, training.TableTrainer._indices
    counts = {"rows": 0, "pairs": 0}

    def counting(self, rows):
        indices = original_indices(self, rows)
        counts["rows"] += len(indices[1])
        counts["pairs"] += len(rows)
        return indices

    if layout == "batch_64":
        params["batch_size"] = 64
    elif layout != "grouped":  # the fit's pairs are train_pairs in this order: items index them
        training.grouped_order = target_sorted_order(train_pairs[:, 1], 4 if layout == "tf_blocks_4" else None)
    training.TableTrainer._indices = counting
    try:
        start = time.perf_counter()
        est = DeepDRIM(**params).fit(data.counts, train_pairs, train_labels)
        seconds = time.perf_counter() - start
    finally:
        training.grouped_order, training.TableTrainer._indices = original_order, original_indices
    scores = est.predict_proba(lp.pairs[test])[:, 1]
    return {"layout": layout, "seed": seed, "fit_s": round(seconds, 2),
            "rows_per_pair": round(counts["rows"] / counts["pairs"], 2),
            "val_auroc": round(float(est.history_["val_auroc"][est.best_epoch_]), 4),
            "test_auroc": round(auroc(lp.labels[test], scores), 4)}


def summarise(results: list[dict]) -> None:
    from deepdrim.stats import mean_ci

    base = {r["seed"]: r for r in results if r["layout"] == "grouped"}
    print(f"{'layout':12s} {'rows/pair':>9s} {'fit s':>6s} {'val AUROC':>9s} {'test AUROC':>10s}  "
          "test AUROC - grouped, paired [95% t-interval]")
    for layout in dict.fromkeys(r["layout"] for r in results):
        rs = [r for r in results if r["layout"] == layout]
        line = (f"{layout:12s} {np.mean([r['rows_per_pair'] for r in rs]):9.2f} {np.mean([r['fit_s'] for r in rs]):6.1f} "
                f"{np.mean([r['val_auroc'] for r in rs]):9.3f} {np.mean([r['test_auroc'] for r in rs]):10.3f}")
        diffs = np.array([r["test_auroc"] - base[r["seed"]]["test_auroc"] for r in rs if r["seed"] in base])
        if layout != "grouped" and len(diffs) > 1:
            mean, low, high, _ = mean_ci(diffs)
            line += (f"  {mean:+.3f} [{low:+.3f}, {high:+.3f}]"
                     f" (worse on {int((diffs < 0).sum())} of {len(diffs)} seeds)")
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--layouts", default=",".join(LAYOUTS))
    args = parser.parse_args()
    layouts = [name.strip() for name in args.layouts.split(",") if name.strip()]
    unknown = sorted(set(layouts) - set(LAYOUTS))
    if unknown or "grouped" not in layouts:
        raise SystemExit(f"--layouts must include grouped and name only {', '.join(LAYOUTS)}; got {args.layouts!r}")
    results = []
    for seed in range(args.seeds):
        for layout in layouts:
            results.append(run(layout, seed))
            print(json.dumps(results[-1]), flush=True)
    summarise(results)


if __name__ == "__main__":
    main()
