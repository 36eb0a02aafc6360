"""Which TF regulates which (``task=direction``): the three-class problem (none, a -> b, b -> a) on
pairs of two TFs (:mod:`deepdrim.direction`), cross-validated for three models side by side and
logged to MLflow:

- ``deepdrim``: existence and direction both from DeepDRIM (``neighbors`` neighbors per gene);
- ``cnnc``: both from CNNC (the same network with no neighbor images);
- ``combined``: existence from DeepDRIM, direction from CNNC (the paper's combined model:
  DeepDRIM's context against false edges, CNNC's primary image for causality);
- ``baseline``: existence from |Pearson r|, direction from the regulator prior (gene identity).

Four networks are fitted per fold (two per method), the combined model reuses them. Per model:
``<model>/existence_auroc``, ``/existence_auprc``, ``/fpr_matched`` (no-edge pairs called where it
finds ``cv.sensitivity`` of the true edges), ``/direction_auroc``, ``/direction_accuracy``,
``/pairwise_direction_accuracy``; and the paper's claim against CNNC: ``fp_reduction_matched/<model>``
(1 - FP / FP of CNNC, at matched sensitivity), ``fpr_drop_matched/<model>`` (FP rate of CNNC minus the
model's: bounded, so its mean over seeds is not ruled by one seed where CNNC made few FPs, the
verdict's metric) and ``direction_accuracy_gain/<model>``. The data is degraded as the ``cv`` job's
is (``cells``, ``magic``, ``drop_prob``).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import pandas as pd
from omegaconf import DictConfig

from deepdrim.direction import cross_validate_direction, three_class_proba
from deepdrim.ranked_edges import write_ranked_edges
from deepdrim.data import direction_pairs
from deepdrim.files import write_csv
from experiments.config import degrade
from experiments.config.method import check, check_direction, estimator, split_of
from experiments.tracking import job_runs, mlflow_dataset

MODELS = ("deepdrim", "cnnc", "combined", "baseline")
MODEL_LABELS = {"deepdrim": "DeepDRIM", "cnnc": "CNNC", "combined": "combined (DeepDRIM existence, CNNC direction)",
                "baseline": "Pearson + regulator prior"}


def model_pairs(cfg: DictConfig) -> dict:
    """name -> (existence, direction) estimators: one DeepDRIM and one CNNC, shared by the combined model."""
    deepdrim, cnnc = estimator(cfg), estimator(cfg, n_neighbors=0)
    return {"deepdrim": (deepdrim, deepdrim), "cnnc": (cnnc, cnnc), "combined": (deepdrim, cnnc)}


def run(cfg: DictConfig, output_dir: Path, overrides: str = "", tags: Optional[dict] = None) -> dict[str, float]:
    """The ``task=direction`` job (module docstring)."""
    start = time.time()
    check_direction(cfg)
    data = degrade.job_dataset(cfg, lambda data: check(cfg, *data.expression.shape))
    pairs = direction_pairs(data, int(cfg.seed), int(cfg.cv.n_folds))
    sensitivity = float(cfg.cv.sensitivity)

    def compute() -> job_runs.JobResult:
        mlflow_dataset.log_job_input(cfg.data, int(cfg.seed), data.expression)
        models = model_pairs(cfg)
        result = cross_validate_direction(models, data.expression.to_numpy(), pairs.pairs, pairs.classes,
                                          gene_names=data.gene_names, n_folds=int(cfg.cv.n_folds),
                                          split=split_of(cfg), random_state=int(cfg.seed),
                                          progress=f"direction CV {len(pairs):,} TF pairs")
        metrics: dict[str, float] = {}
        for name in MODELS:
            metrics.update({f"{name}/{k}": v for k, v in result.metrics(name, sensitivity).items()})
        for name in ("deepdrim", "combined", "baseline"):
            cnnc_fp, fp = metrics["cnnc/fp_matched"], metrics[f"{name}/fp_matched"]
            metrics[f"fp_reduction_matched/{name}"] = 1.0 - fp / cnnc_fp if cnnc_fp > 0 else float("nan")
            metrics[f"fpr_drop_matched/{name}"] = metrics["cnnc/fpr_matched"] - metrics[f"{name}/fpr_matched"]
            metrics[f"direction_accuracy_gain/{name}"] = (metrics[f"{name}/direction_accuracy"]
                                                           - metrics["cnnc/direction_accuracy"])
        done = result.tested()
        metrics.update(n_pairs=float(len(pairs)), n_tested=float(len(done)), n_edges=float((pairs.classes > 0).sum() // 2),
                       n_mutual=float(pairs.n_mutual), sensitivity=sensitivity, n_failed_fits=float(len(result.failures)),
                       n_cells=float(data.expression.shape[0]), wall_seconds=time.time() - start)
        combined = three_class_proba(done.combined_existence, done.combined_forward)
        table = model_table(metrics)
        files = [write_csv(result.predictions, output_dir / "predictions.csv"),
                 write_ranked_edges(output_dir / "rankedEdges.csv", done.gene_a, done.gene_b, combined[:, 1]),
                 write_csv(table, output_dir / "direction_metrics.csv")]
        failure = "; ".join(f"fold {k} {head} of {'/'.join(names)}: {why.split(' (')[0]}"
                            for k, head, names, why in result.failures)
        for m in table.to_dict("records"):
            print(f"{MODEL_LABELS[m['model']]:>45}: existence auroc={m['existence_auroc']:.3f} fpr@{sensitivity:.0%}="
                  f"{m['fpr_matched']:.3f}  direction auroc={m['direction_auroc']:.3f} "
                  f"accuracy={m['direction_accuracy']:.3f} pairwise={m['pairwise_direction_accuracy']:.3f}")
        print(f"combined vs CNNC at {sensitivity:.0%} sensitivity: FP rate of CNNC minus combined "
              f"{metrics['fpr_drop_matched/combined']:+.3f} (FP reduction {metrics['fp_reduction_matched/combined']:+.1%}), "
              f"direction accuracy "
              f"{metrics['direction_accuracy_gain/combined']:+.3f}"
              + (f"; FAILED to learn: {failure}" if failure else ""))
        trust = {"trust": "failed_to_learn", "trust_line": f"FAILED to learn: {failure}"[:5000]} if failure else {}
        return job_runs.JobResult(metrics, files, tags=trust)

    return job_runs.run_job(cfg, output_dir, overrides, "direction", compute, default_name="direction",
                            tags={"data_source": data.source, "cv_split": split_of(cfg), **(tags or {})})


def model_table(metrics: dict) -> pd.DataFrame:
    """One row per model, one column per metric (the job's direction_metrics.csv)."""
    rows = [{"model": name, **{k.split("/", 1)[1]: v for k, v in metrics.items() if k.startswith(f"{name}/")}}
            for name in MODELS]
    return pd.DataFrame(rows)
