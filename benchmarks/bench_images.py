"""Image generation speed: `pair_images` against the reference recipe, side by side in one run.

The reference (the paper's scripts) calls ``numpy.histogram2d`` once per image, for every image
of every pair, and picks neighbors per pair. Both build the default dataset's labelled pairs at
``n_neighbors=10`` (23 images per pair), for two workloads: the balanced labelled pairs a CV job
trains on and every TF x gene candidate that ``task=predict`` scores. The script checks they
agree and prints images/second and the ratio of each.

    .venv/bin/python benchmarks/bench_images.py [--pairs N] [--repeats R]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from deepdrim.images import log_expression, pair_images
from deepdrim.pairs import labelled_pairs
from deepdrim.ranked_edges import candidate_chunks
from sim.grn import simulate_grn


def reference_images(counts: np.ndarray, pairs: np.ndarray, n_neighbors: int = 10, n_bins: int = 32) -> np.ndarray:
    """Straightforward generator: one histogram2d per image, neighbors re-ranked per pair."""
    x = log_expression(counts)
    cov = np.cov(counts, rowvar=False)
    n_cells = counts.shape[0]

    def image(u, v):
        hist = np.histogram2d(x[:, u], x[:, v], bins=n_bins)[0].T
        return np.log10(hist / n_cells + 1e-4) / 4 + 1

    def neighbors(g, a, b):
        order = [i for i in np.argsort(-cov[g], kind="stable") if i not in (a, b) and cov[g, i] > 0]
        return order[:n_neighbors]

    out = np.zeros((len(pairs), 2 * n_neighbors + 3, n_bins, n_bins), dtype=np.float32)
    for k, (a, b) in enumerate(pairs):
        out[k, 0], out[k, 1], out[k, 2] = image(a, b), image(a, a), image(b, b)
        for i, g in enumerate(neighbors(a, a, b)):
            out[k, 3 + i] = image(a, g)
        for j, g in enumerate(neighbors(b, a, b)):
            out[k, 3 + n_neighbors + j] = image(g, b)
    return out


def best_time(fn, repeats: int) -> tuple[float, float, np.ndarray]:
    """Best wall-clock and best CPU seconds (this process, all threads) of ``repeats`` calls."""
    best_wall, best_cpu, result = np.inf, np.inf, None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    return best_wall, best_cpu, result


def compare(label: str, counts: np.ndarray, pairs: np.ndarray, n: int, repeats: int) -> float:
    """Time both generators on ``pairs``; print images/s and the ratio; return max |difference|.

    Wall-clock is what a user waits; on a machine shared with other jobs a sequential pair of
    measurements sees different loads, so the CPU time of this process is printed beside it (all
    threads: the reference is single-threaded numpy apart from BLAS in ``np.cov``; ``pair_images``
    also runs its histograms and output gather on a thread pool, ``DEEPDRIM_IMAGE_THREADS``)."""
    t_ours, c_ours, ours = best_time(lambda: pair_images(counts, pairs, n_neighbors=n), repeats)
    t_ref, c_ref, ref = best_time(lambda: reference_images(counts, pairs, n_neighbors=n), max(1, repeats // 3))
    n_images = ours.shape[0] * ours.shape[1]
    diff = float(np.abs(ours - ref).max())
    print(f"{label}: {len(pairs)} pairs x {ours.shape[1]} images = {n_images} images, max |difference| {diff:.1e}")
    print(f"  reference (histogram2d per image): {t_ref:8.3f} s  {n_images / t_ref:12,.0f} images/s  (CPU {c_ref:8.3f} s)")
    print(f"  pair_images (bincount + cache):    {t_ours:8.3f} s  {n_images / t_ours:12,.0f} images/s  (CPU {c_ours:8.3f} s)")
    print(f"  speed-up: {t_ref / t_ours:.0f}x wall-clock, {c_ref / c_ours:.0f}x CPU time")
    return diff


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=0, help="limit the number of pairs (0 = all)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = simulate_grn(random_state=0)
    n = 10
    training = labelled_pairs(data.tfs, data.gene_names, data.edge_names, random_state=0).pairs
    tf_index = np.flatnonzero(np.isin(data.gene_names, data.tfs))
    candidates = np.concatenate(list(candidate_chunks(tf_index, len(data.gene_names))))  # as task=predict
    if args.pairs:
        training, candidates = training[: args.pairs], candidates[: args.pairs]
    print(f"dataset: {data.counts.shape[0]} cells x {data.counts.shape[1]} genes, n_neighbors={n}")
    worst = max(compare("training pairs (balanced labelled set)", data.counts, training, n, args.repeats),
                compare("prediction pairs (every TF x every other gene)", data.counts, candidates, n, args.repeats))
    if worst > 1e-6:
        raise SystemExit("images disagree")


if __name__ == "__main__":
    main()
