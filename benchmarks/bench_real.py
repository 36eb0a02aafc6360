"""Real-data speed: one DeepDRIM n=10 TF-aware cross-validation through the code at a base commit
and through this working tree, side by side in one run.

The driver reads the data, labels pairs (balanced negatives, seeded) and cuts TF-aware folds
(``deepdrim.cv.make_folds``) once per seed with this tree's code and hands the same arrays to both
sides, so the comparison is paired: the same training and test pairs, only the fitting code
differs. Each side runs in a fresh subprocess (so neither warms the other's kernels): per fold
``DeepDRIM.fit`` on the training pairs with the default job's parameters (``conf/model/deepdrim.yaml``
+ ``conf/training/default.yaml``, read from each side's own tree) and ``predict_proba`` on the test
pairs; the driver computes both AUROCs from the returned scores. The base side runs the commit's
code, extracted with ``git archive BASE | tar -x`` into a temporary folder and put first on its
``PYTHONPATH``.

Printed per side: CV wall (fits + predictions, data loading excluded), pairs/s (labelled pairs
cross-validated per second of that wall), training samples/s (pairs trained summed over epochs,
per second of fitting), epochs run per fold, pooled held-out AUROC, peak RSS; then the wall ratio.
With several ``--seeds`` (a fresh label draw, fold split and model seed each) the two sides
alternate which runs first, and the paired AUROC difference (this tree minus base) gets a 95 %
t-interval over seeds, as ``bench_batch_order.py`` does.

``--data``: a BEELINE folder (default: the shared mHSC-L folder), ``template`` (the robustness
template's simulator settings, ``conf/data/template.yaml``: 40 TFs x 400 genes x 4,000 cells) or
``default`` (the default job's simulated data). ``--size mesc`` simulates mESC-size data instead
(1,120 genes x 421 cells, ~48.5k labelled pairs; see :func:`mesc_like`) and, with ``--new-only``,
measures this tree alone (wall and peak RSS).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_real.py [--seeds 0,1] [--folds 3] [--epochs 16]
    PYTHONPATH=. .venv/bin/python benchmarks/bench_real.py --data template --seeds 0
    PYTHONPATH=. .venv/bin/python benchmarks/bench_real.py --size mesc --new-only
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BASE = "9a6105b"
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "beeline-real" / "mHSC-L-specific-500"


# ---------------------------------------------------------------------------------------- worker side
def default_params(root: Path, seed: int) -> dict:
    """The default job's DeepDRIM constructor arguments, from ``root``'s own config files
    (as ``experiments.config.method.estimator_params`` builds them, without Hydra)."""
    import yaml

    model = yaml.safe_load((root / "conf" / "model" / "deepdrim.yaml").read_text())
    training = yaml.safe_load((root / "conf" / "training" / "default.yaml").read_text()) or {}
    config = yaml.safe_load((root / "conf" / "config.yaml").read_text())
    params = {**model, **{k: v for k, v in training.items() if k != "defaults"}}
    for key in ("defaults", "n_folds", "split", "_target_"):
        params.pop(key, None)
    if isinstance(params.get("n_neighbors"), str):  # ${neighbors} from conf/config.yaml
        params["n_neighbors"] = int(config.get("neighbors", 10))
    for key in ("conv_filters", "dense_units"):
        params[key] = tuple(params[key])
    params["random_state"] = int(seed)
    return params


def mesc_like(seed: int):
    """Expression (cells x genes) and labelled pairs at the size of BEELINE's mESC TFs+500 set:
    1,120 genes x 421 cells, 48.5k balanced labelled pairs. The simulator's own network has a
    few regulators per gene (~2k edges); mESC's ChIP-seq network is far denser, so the truth here
    is the simulator's edges plus random (TF, gene) edges up to 24,250 positives. The labels carry
    little signal beyond the simulated edges: this data measures speed and memory, not accuracy."""
    from deepdrim.pairs import labelled_pairs
    from sim.grn import simulate_grn

    data = simulate_grn(n_tfs=80, n_genes=1120, n_cells=421, n_master=6, random_state=seed)
    rng = np.random.default_rng(seed)
    n_genes, n_tfs = len(data.gene_names), len(data.tfs)
    is_edge = np.zeros((n_tfs, n_genes), dtype=bool)
    is_edge[data.edges[:, 0], data.edges[:, 1]] = True
    is_edge[np.arange(n_tfs), np.arange(n_tfs)] = True  # no self-loops
    free = np.flatnonzero(~is_edge.ravel())
    extra = rng.choice(free, size=24_250 - int(len(data.edges)), replace=False)
    is_edge.ravel()[extra] = True
    is_edge[np.arange(n_tfs), np.arange(n_tfs)] = False
    edges = np.argwhere(is_edge)
    lp = labelled_pairs(np.arange(n_tfs), n_genes, edges, random_state=seed)
    return data.expression.to_numpy(), lp.pairs, lp.labels


def load_data(data: str, size: str, seed: int):
    """(expression cells x genes, pairs, labels) of one benchmark dataset."""
    from deepdrim.pairs import labelled_pairs

    if size == "mesc":
        return mesc_like(seed)
    if data in ("template", "default"):
        import yaml
        from sim.grn import simulate_grn

        sim = yaml.safe_load((ROOT / "conf" / "data" / "sim.yaml").read_text())
        if data == "template":
            sim.update({k: v for k, v in yaml.safe_load((ROOT / "conf" / "data" / "template.yaml").read_text()).items()
                        if k != "defaults"})
        params = {k: (tuple(v) if isinstance(v, list) else v) for k, v in sim.items()
                  if k not in ("_target_", "kind", "negatives")}
        ds = simulate_grn(**params, random_state=seed)
        lp = labelled_pairs(ds.tfs, ds.gene_names, ds.edge_names, random_state=seed)
        return ds.expression.to_numpy(), lp.pairs, lp.labels
    from deepdrim.io import read_beeline

    ds = read_beeline(data)
    genes = list(ds.expression.columns)
    lp = labelled_pairs(list(ds.tfs), genes, list(zip(ds.edges["tf"], ds.edges["target"])), random_state=seed)
    return ds.expression.to_numpy(), lp.pairs, lp.labels


def worker(args) -> dict:
    """One cross-validation in this process (whichever ``deepdrim`` is first on the path)."""
    import warnings

    import deepdrim
    from deepdrim import DeepDRIM
    warnings.filterwarnings("ignore")
    code_root = Path(deepdrim.__file__).resolve().parents[1]
    work = np.load(args.inputs)
    expression, pairs, labels, fold_of = work["expression"], work["pairs"], work["labels"], work["fold_of"]
    params = default_params(code_root, args.seed)
    if args.epochs:
        params["epochs"] = args.epochs
    params.update(json.loads(args.params or "{}"))
    folds = [(np.flatnonzero((fold_of >= 0) & (fold_of != k)), np.flatnonzero(fold_of == k))
             for k in range(int(fold_of.max()) + 1)][: args.max_folds or None]
    scores = np.full(len(pairs), np.nan)
    fit_s, trained, epochs_run = 0.0, 0, []
    bar = None
    if args.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(folds) * int(params["epochs"]), unit="epoch", mininterval=5.0)
    start = time.perf_counter()
    for train, test in folds:
        model = DeepDRIM(**params)
        t0 = time.perf_counter()
        model.fit(expression, pairs[train], labels[train],
                  epoch_callback=(lambda epoch, logs: bar.update(1)) if bar is not None else None)
        fit_s += time.perf_counter() - t0
        n_epochs = len(model.history_["loss"])
        epochs_run.append(n_epochs)
        trained += int(getattr(model, "n_samples_trained_", len(train) * n_epochs))
        scores[test] = model.predict_proba(pairs[test])[:, 1]
    wall = time.perf_counter() - start
    if bar is not None:
        bar.close()
    done = np.isfinite(scores)
    return {"wall_s": wall, "fit_s": fit_s, "pairs": int(done.sum()), "pairs_per_s": float(done.sum() / wall),
            "train_samples": trained, "train_samples_per_s": trained / fit_s, "epochs_run": epochs_run,
            "scores": [float(x) if np.isfinite(x) else None for x in scores],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "code": str(code_root)}


def prepare(args, seed: int, path: Path) -> dict:
    """The seed's data, labelled pairs and folds (this tree's code), saved to ``path`` for both
    sides; returns the sizes printed per seed."""
    from deepdrim.cv import make_folds

    expression, pairs, labels = load_data(args.data, args.size, seed)
    fold_of = np.full(len(pairs), -1)
    for k, (_, test, _) in enumerate(make_folds(pairs, args.folds, "tf", random_state=seed)):
        fold_of[test] = k
    np.savez(path, expression=np.asarray(expression, dtype=np.float64), pairs=pairs, labels=labels, fold_of=fold_of)
    return {"n_labelled": int(len(pairs)), "n_genes": int(expression.shape[1]), "n_cells": int(expression.shape[0]),
            "labels": np.asarray(labels)}


def score_auroc(result: dict, labels: np.ndarray) -> float:
    """Pooled AUROC of a side's returned scores over the pairs it scored (this tree's metric)."""
    from deepdrim.metrics import auroc

    scores = np.array([np.nan if x is None else x for x in result["scores"]])
    done = np.isfinite(scores)
    return auroc(labels[done], scores[done])


# ---------------------------------------------------------------------------------------- driver side
def run_side(path: Path, args, seed: int, inputs: Path) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--seed", str(seed), "--inputs", str(inputs),
               "--max-folds", str(args.max_folds), "--epochs", str(args.epochs)]
    if args.params and path == ROOT:
        command += ["--params", args.params]
    if args.progress:
        command.append("--progress")
    env = {**os.environ, "PYTHONPATH": str(path), "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=None if args.progress else subprocess.PIPE,
                         text=True, check=False)
    if out.returncode:
        raise SystemExit(f"error: worker on {path} failed:\n{out.stderr if out.stderr else ''}{out.stdout[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def t_interval(diffs: np.ndarray) -> tuple[float, float]:
    """The 95% t-interval of the paired differences; NaN with fewer than 2 seeds."""
    from deepdrim.stats import mean_ci

    _, low, high, n = mean_ci(diffs)
    return (low, high) if n > 1 else (float("nan"), float("nan"))


def line(name: str, r: dict) -> str:
    return (f"  {name:5s} wall {r['wall_s']:7.1f} s  fit {r['fit_s']:7.1f} s  pairs/s {r['pairs_per_s']:7.1f}  "
            f"train samples/s {r['train_samples_per_s']:7.1f} ({r['train_samples']} samples, epochs {r['epochs_run']})  "
            f"AUROC {r['auroc']:.4f}  peak RSS {r['peak_rss_mb']:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="BEELINE folder, 'template' or 'default'")
    parser.add_argument("--size", default="data", choices=("data", "mesc"), help="mesc: simulate mESC-size data")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (label draw, folds, model)")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--max-folds", type=int, default=0, help="run only the first k folds (quick checks)")
    parser.add_argument("--epochs", type=int, default=0, help="override the default job's epochs (0: keep)")
    parser.add_argument("--params", default="", help="JSON of estimator parameters for this tree's side only")
    parser.add_argument("--base", default=BASE, help="commit to compare against")
    parser.add_argument("--new-only", action="store_true", help="measure this tree only")
    parser.add_argument("--progress", action="store_true", help="show the workers' progress bars")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--inputs", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    if args.data not in ("template", "default") and args.size == "data" and not Path(args.data).is_dir():
        print(f"error: --data {args.data}: not a folder (nor 'template' / 'default')", file=sys.stderr)
        raise SystemExit(2)
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"data {args.data if args.size == 'data' else 'mESC-size simulation'}; {args.folds}-fold TF-aware CV; "
          f"seeds {seeds}; base {args.base}; load average at start {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_real_") as tmp:
        base = Path(tmp)
        if not args.new_only:
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.base], capture_output=True, check=True)
            subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        results = []
        for i, seed in enumerate(seeds):
            sides = [("new", ROOT)] if args.new_only else [("base", base), ("new", ROOT)]
            if i % 2:
                sides.reverse()
            inputs = Path(tmp) / f"inputs-{seed}.npz"
            data = prepare(args, seed, inputs)
            got = {name: run_side(path, args, seed, inputs) for name, path in sides}
            for result in got.values():
                result["auroc"] = score_auroc(result, data["labels"])
            results.append(got)
            print(f"seed {seed}: {data['n_labelled']} labelled pairs, {data['n_genes']} genes x "
                  f"{data['n_cells']} cells; load average {os.getloadavg()[0]:.1f}")
            for name in ("base", "new"):
                if name in got:
                    print(line(name, got[name]))
            if "base" in got:
                print(f"  wall ratio base/new {got['base']['wall_s'] / got['new']['wall_s']:.2f}x; "
                      f"AUROC new - base {got['new']['auroc'] - got['base']['auroc']:+.4f}", flush=True)
    if args.new_only:
        return
    base_wall = np.array([r["base"]["wall_s"] for r in results])
    new_wall = np.array([r["new"]["wall_s"] for r in results])
    diffs = np.array([r["new"]["auroc"] - r["base"]["auroc"] for r in results])
    low, high = t_interval(diffs)
    print(f"summary over {len(seeds)} seed(s): wall base {base_wall.mean():.1f} s, new {new_wall.mean():.1f} s, "
          f"ratio {base_wall.sum() / new_wall.sum():.2f}x; AUROC base {np.mean([r['base']['auroc'] for r in results]):.4f}, "
          f"new {np.mean([r['new']['auroc'] for r in results]):.4f}, difference {diffs.mean():+.4f} "
          f"[95 % CI {low:+.4f}, {high:+.4f}]; load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
