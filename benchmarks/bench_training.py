"""Training and prediction speed of DeepDRIM: the previous path and the image-table path, side by side in one run.

``old`` is the estimator as it was before the image table (kept callable here): a Keras
``PyDataset`` that builds each batch's (B, 23, 32, 32) tensors every epoch, ``keras.Model.fit``
over the per-pair network (Network B on all 22 neighbor images of every pair), validation each
epoch by per-pair ``predict_on_batch``, early stopping in a callback. ``new`` is
``deepdrim.DeepDRIM`` now: every image of the fit built once into a table (per-gene self and
neighbor images are shared rows), each distinct row embedded once per batch by Network B and
gathered per pair, batches grouped by TF (``batch_order="grouped"``), bfloat16 compute where the
hardware has it (``precision="auto"``), validation and prediction with per-gene embeddings.
Both train the same network at the same seed; samples/s counts every overhead (images,
validation each epoch, early stopping) of ``fit`` divided into (training pairs x epochs run).

Workloads: the default job's data (``sim.grn.simulate_grn()`` as conf/data/sim.yaml, 840 balanced
labelled pairs, the default network of conf/model/deepdrim.yaml and conf/training/default.yaml,
n_neighbors=10); a paper-like load (2,000 genes, every (TF, gene) of 12 TFs labelled: 23,988
pairs; ``--large-epochs`` epochs, default 1); and the memory check: scoring the 149,950 TF x gene
candidates of a 3,000-gene matrix (50 TFs) in the predict job's 50,000-pair chunks, peak RSS of a
fresh process.

What was tried (measured on the shared 2-core machine under load from other jobs, samples/s of
one training epoch of the default workload, each variant in the same process; noisy, ratios hold):
- per-pair network in Keras fit, in-RAM images: 57/s; ``jit_compile=True`` (XLA on CPU): 10/s (rejected);
  ``mixed_bfloat16``: 90/s.
- image table + Network B once per distinct row, random batches (490 distinct neighbor rows per
  batch of 32 instead of 704): 95-104/s; batches grouped by TF (361 rows): 173-216/s;
  plus ``mixed_bfloat16`` (AMX via oneDNN): 332-474/s; batch 64 random: 147-163/s (not used: changes the optimisation).
- validation and prediction: per-gene embeddings make a pair cost one Network A image + the head;
  graph-compiled (tf.function, traced once per model) ran 2-5x faster than eager layer calls, and
  1,024-pair chunks beat 256 and 4,096.
- full runs of this script: default data fit 5.3x (val AUROC 0.8266 new vs 0.8062 old), predict 41x.
- why the default data's predict ratio swung from 9.7x to 41x between runs: the new path's one timed
  call lasted 0.3-0.9 s, against 9-15 s for the old one, on a machine at load 7-15. The first call
  of a process can also pay a one-off (0.5-1.7 s seen: kernels for the 1,024-pair and tail batch
  shapes; tracing is once per model already), and the old path's first call had been paid by its
  validation. Now both paths get a first call (printed, not counted), then rounds that alternate
  old and new, each round >= 3 s of back-to-back calls (mean per call), from a fresh image builder
  per call as a predict job starts; the best round counts on both sides.
- numerics on the paper-like load, one epoch, new path (same seed; old path 0.7802): val AUROC
  random batches float32 0.8155 (91 s), random + bfloat16 0.6650 (47 s), grouped float32 0.5128
  (75 s), grouped + bfloat16 (the defaults) 0.5574 (56 s). Batches of one TF (12 TFs, ~2,000 pairs
  each, 10% positive) and bfloat16 both slow the first epoch there; the defaults were chosen on the
  default job, where they reach a better AUROC than the old path. For loads with few TFs and many
  pairs per TF use ``batch_order="random"`` (and ``precision="float32"`` where accuracy per epoch
  matters more than speed); convergence over full trainings of that load was not measured.
- 2026-11-26 (docs/results/speed.md has the tables): Adam's update as plain TF ops (``adam_update``, the
  same numbers to the bit) and no autograph halve the train step's tracing (0.8 -> 0.4 s per fit);
  thread settings, other oneDNN instruction sets, XLA and padding the distinct-row count gave
  nothing; batches whose targets repeat (up to 20 % fewer Network B rows) and batches of 64 (11 %
  less fit time) lose held-out AUROC (``bench_batch_order.py``), so the layout stays.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_training.py [--large-epochs 1] [--skip-large] [--predict-repeats 3]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Callable

import numpy as np

DEFAULT_PARAMS = dict(n_neighbors=10, conv_filters=(8, 16, 32), embedding=8, conv_dropout=0.0, dense_units=(32,),
                      dense_dropout=0.0, epochs=16, min_epochs=10, batch_size=32, optimizer="adam",
                      learning_rate=0.002, patience=8, lr_decay=1e-6, validation_fraction=0.2, monitor="val_auroc",
                      random_state=0)


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM; getrusage's maxrss would carry the parent's peak
    into a fork+exec child)."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------------------- old path
def old_predict(model, builder, pairs: np.ndarray, batch_size: int = 128) -> np.ndarray:
    """The previous scoring: every pair's 23 images built and run through the per-pair network."""
    out = []
    for images in builder.iter_batches(pairs, batch_size=batch_size):
        n = len(images)
        if n < batch_size:
            images = np.concatenate([images, np.zeros((batch_size - n,) + images.shape[1:], images.dtype)])
        out.append(np.asarray(model.predict_on_batch(images)).reshape(-1)[:n])
    return np.concatenate(out)


def old_fit(params: dict, counts, pairs: np.ndarray, labels: np.ndarray):
    """The previous ``DeepDRIM.fit``: PyDataset + keras.Model.fit + per-epoch validation callback."""
    import keras
    import tensorflow as tf

    from deepdrim import DeepDRIM
    from deepdrim.cv import tf_validation_split
    from deepdrim.dataset import PairImageSequence
    from deepdrim.metrics import auroc
    from deepdrim.training import BestEpoch, binary_cross_entropy

    est = DeepDRIM(**params, precision="float32")
    builder = est._make_builder(counts)
    seed = params["random_state"]
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    train, val = tf_validation_split(pairs, labels, est.validation_fraction, seed)
    model = est._build_network()
    tracker = BestEpoch(est.monitor, est.patience, est.min_epochs, est.epochs)
    history = {"val_auroc": []}

    class Monitor(keras.callbacks.Callback):
        best = None

        def on_epoch_end(self, epoch, logs=None):
            probs = old_predict(self.model, builder, pairs[val])
            record = {"val_loss": binary_cross_entropy(labels[val], probs), "val_auroc": auroc(labels[val], probs)}
            history["val_auroc"].append(record["val_auroc"])
            improved, stop = tracker.update(epoch, record)
            if improved:
                self.best = self.model.get_weights()
            self.model.stop_training = stop

        def on_train_end(self, logs=None):
            if self.best is not None:
                self.model.set_weights(self.best)

    data = PairImageSequence(builder, pairs[train], labels[train], est.batch_size, shuffle=True, random_state=seed)
    model.fit(data, epochs=int(est.epochs), callbacks=[Monitor()], verbose=0)
    return model, builder, history, tracker.best_epoch, len(train)


# ---------------------------------------------------------------------------------------- runs
def per_call_seconds(call: Callable[[], np.ndarray], min_seconds: float) -> tuple[float, np.ndarray]:
    """Mean seconds per call over back-to-back calls that together last >= ``min_seconds`` (one
    call when it is that long already), and the last call's result. A short call timed alone on a
    loaded machine is a lottery: its best of k lands in a quiet moment that a long call cannot."""
    calls, start, result = 0, time.perf_counter(), None
    while calls == 0 or time.perf_counter() - start < min_seconds:
        result = call()
        calls += 1
    return (time.perf_counter() - start) / calls, result


def time_predict(old_call: Callable[[], np.ndarray], new_call: Callable[[], np.ndarray], repeats: int,
                 min_seconds: float = 3.0) -> tuple[list, list, np.ndarray, np.ndarray]:
    """Seconds per call of both scoring paths, measured the same way: one first call each (tracing
    and the kernels for these batch shapes happen there, once per process in a predict job), then
    ``repeats`` rounds alternating old and new so that a change of load hits both, each round a
    :func:`per_call_seconds` region of >= ``min_seconds``. Every call starts from a fresh image
    builder, as a predict job does. Returns (old seconds, new seconds, old scores, new scores);
    element 0 of each list is the first call alone."""
    t_old, t_new, scores = [], [], {}
    for round_ in range(1 + repeats):
        for name, call, times in (("old", old_call, t_old), ("new", new_call, t_new)):
            seconds, scores[name] = per_call_seconds(call, min_seconds if round_ else 0.0)
            times.append(seconds)
    return t_old, t_new, scores["old"], scores["new"]


def compare_fit(label: str, counts, pairs, labels, params: dict, predict_pairs: np.ndarray,
                predict_repeats: int = 3) -> dict:
    from deepdrim import DeepDRIM
    from deepdrim.cv import MIN_VALIDATION_TFS, tf_validation_split

    start = time.perf_counter()
    model, builder, history, best, n_train = old_fit(params, counts, pairs, labels)
    t_old = time.perf_counter() - start
    epochs_old = len(history["val_auroc"])

    start = time.perf_counter()
    est = DeepDRIM(**params).fit(counts, pairs, labels)
    t_new = time.perf_counter() - start
    epochs_new = len(est.history_["loss"])
    old_batch = max(params["batch_size"], 128)
    p_olds, p_news, old_scores, new_scores = time_predict(
        lambda: old_predict(model, DeepDRIM(**params)._make_builder(counts), predict_pairs, batch_size=old_batch),
        lambda: est.predict_proba(predict_pairs, expression=counts)[:, 1], predict_repeats)
    p_old, p_new = min(p_olds[1:]), min(p_news[1:])
    train, _ = tf_validation_split(pairs, labels, params["validation_fraction"], params["random_state"])
    assert len(train) == n_train
    # the estimator uses no validation split of fewer than MIN_VALIDATION_TFS TFs: then it trains on every pair
    split = tf_validation_split(pairs, labels, params["validation_fraction"], params["random_state"],
                                min_val_tfs=MIN_VALIDATION_TFS)
    n_train_new = len(pairs) if split is None else len(split[0])
    rate_old, rate_new = n_train * epochs_old / t_old, n_train_new * epochs_new / t_new
    print(f"{label}: {len(pairs)} labelled pairs ({n_train} training in the old path, {n_train_new} in the new"
          f"{'' if split is not None else ': no validation split of >= 4 TFs, so no validation AUROC'}), "
          f"{counts.shape[1]} genes, {counts.shape[0]} cells, n_neighbors={params['n_neighbors']}")
    print(f"  fit  old: {t_old:8.1f} s {epochs_old:3d} epochs {rate_old:9.1f} samples/s  "
          f"best val AUROC {history['val_auroc'][best] if best >= 0 else float('nan'):.4f} (epoch {best + 1})")
    print(f"  fit  new: {t_new:8.1f} s {epochs_new:3d} epochs {rate_new:9.1f} samples/s  "
          f"best val AUROC {est.history_['val_auroc'][est.best_epoch_] if est.best_epoch_ >= 0 else float('nan'):.4f}"
          f" (epoch {est.best_epoch_ + 1}, precision={est._dtype_policy() or 'float32'})")
    print(f"  fit speed-up: {rate_new / rate_old:.1f}x")
    print(f"  predict {len(predict_pairs)} TF x gene pairs (fresh image builder each call; best of {predict_repeats} "
          f"rounds of >= 3 s after a first call)  old: {p_old:7.2f} s {len(predict_pairs) / p_old:10,.0f} pairs/s"
          f"   new: {p_new:7.2f} s {len(predict_pairs) / p_new:10,.0f} pairs/s   speed-up: {p_old / p_new:.1f}x")
    print(f"    s per call, first call then each round: old {' '.join(f'{t:.2f}' for t in p_olds)}; "
          f"new {' '.join(f'{t:.2f}' for t in p_news)}; first calls' ratio {p_olds[0] / p_news[0]:.1f}x")
    print(f"  peak RSS so far: {peak_rss_mb():,.0f} MB")
    return {"est": est, "new_scores": new_scores, "old_scores": old_scores}


def candidates(n_tfs: int, n_genes: int) -> np.ndarray:
    tf, gene = np.meshgrid(np.arange(n_tfs), np.arange(n_genes), indexing="ij")
    keep = tf != gene
    return np.column_stack([tf[keep], gene[keep]]).astype(np.int64)


def memory_check() -> None:
    """Fresh process: train briefly on a 3,000-gene matrix, score its 149,950 TF x gene pairs."""
    from deepdrim import DeepDRIM
    from deepdrim.pairs import labelled_pairs
    from sim.grn import simulate_grn

    data = simulate_grn(n_tfs=50, n_genes=3000, n_cells=1000, random_state=0)
    lp = labelled_pairs(data.tfs, data.gene_names, data.edge_names, random_state=0)
    params = {**DEFAULT_PARAMS, "epochs": 1, "min_epochs": 0}
    est = DeepDRIM(**params).fit(data.counts, lp.pairs[:2000], lp.labels[:2000])
    before = peak_rss_mb()
    pairs = candidates(50, 3000)
    start = time.perf_counter()
    scores = np.concatenate([est.predict_proba(pairs[s : s + 50_000])[:, 1] for s in range(0, len(pairs), 50_000)])
    seconds = time.perf_counter() - start
    print(json.dumps({"pairs": len(pairs), "seconds": seconds, "peak_rss_mb_before_scoring": before,
                      "peak_rss_mb": peak_rss_mb(), "finite": bool(np.isfinite(scores).all())}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large-epochs", type=int, default=1)
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--predict-repeats", type=int, default=3,
                        help="timed scoring calls of each path after the first one (the best counts)")
    parser.add_argument("--memory-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_only:
        memory_check()
        return
    import tensorflow as tf

    from deepdrim.pairs import labelled_pairs
    from sim.grn import simulate_grn

    print(f"TensorFlow {tf.__version__}, devices: {[d.device_type for d in tf.config.list_physical_devices()]}")
    data = simulate_grn(random_state=0)
    lp = labelled_pairs(data.tfs, data.gene_names, data.edge_names, random_state=0)
    tf_index = np.flatnonzero(np.isin(data.gene_names, data.tfs))
    result = compare_fit("default data", data.counts, lp.pairs, lp.labels, DEFAULT_PARAMS,
                         candidates(len(tf_index), data.counts.shape[1]), args.predict_repeats)
    from deepdrim import DeepDRIM

    again = DeepDRIM(**DEFAULT_PARAMS).fit(data.counts, lp.pairs, lp.labels)
    same = np.array_equal(again.history_["val_auroc"], result["est"].history_["val_auroc"])
    print(f"  new path refit at the same seed: identical validation history: {same}")
    if not args.skip_large:
        big = simulate_grn(n_tfs=12, n_genes=2000, n_cells=1000, random_state=0)
        blp = labelled_pairs(big.tfs, big.gene_names, big.edge_names, negatives="all", random_state=0)
        params = {**DEFAULT_PARAMS, "epochs": args.large_epochs, "min_epochs": 0}
        compare_fit("paper-like load", big.counts, blp.pairs, blp.labels, params, candidates(12, 2000),
                    args.predict_repeats)
    out = subprocess.run([sys.executable, __file__, "--memory-only"], capture_output=True, text=True, check=True)
    mem = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"memory: scoring {mem['pairs']:,} TF x gene pairs (3,000 genes, n=10) in 50,000-pair chunks: "
          f"{mem['seconds']:.1f} s ({mem['pairs'] / mem['seconds']:,.0f} pairs/s), peak RSS "
          f"{mem['peak_rss_mb']:,.0f} MB (fresh process; {mem['peak_rss_mb_before_scoring']:,.0f} MB before scoring)")


if __name__ == "__main__":
    main()
