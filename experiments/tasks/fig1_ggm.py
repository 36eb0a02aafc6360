"""The paper's neighbor-image study (Fig. 1) on Gaussian graphical model (GGM) data: ``task=fig1_ggm``.

Per dataset (:func:`sim.ggm.sample_ggm_study`) one direct pair (positive) and one independent pair
(negative, "transitive" or "random") are scored by three arms (primary image, augmented image,
DeepDRIM), each cross-validated on the same dataset-level folds by
:func:`deepdrim.context_study.cross_validate_arms`; metrics (AUROC, AUPRC, false positives at 0.5 and
at matched sensitivity by negative kind, their reduction vs primary; paper: 40.4% and 55.4%) are
:func:`deepdrim.context_study.study_metrics`. Seeds are swept by the preset; their mean and 95% CI
are the study figure's job (``experiments.reports.figures``).
"""
from __future__ import annotations

import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from deepdrim.context_study import ARMS, cross_validate_arms, study_metrics
from deepdrim.files import write_csv
from deepdrim.plotting import save_roc_pr
from experiments.config import ggm as ggm_config
from experiments.config.method import estimator_class
from experiments.tracking import job_runs
from sim.ggm import sample_ggm_study

ARM_LABELS = {"primary": "primary (32x32)", "augmented": "augmented (96x96)", "deepdrim": "DeepDRIM"}


def _params(resolved: dict) -> dict:
    """What this study depends on, flattened for MLflow (not the cv task's data/degradation keys)."""
    keep = ("task", "study", "seed", "neighbors", "ggm", "model", "training")
    params = job_runs.flatten(job_runs.without_shipped_targets({k: v for k, v in resolved.items() if k in keep}))
    # fixed here (= neighbors, covariance, values binned as they are), so not params of this study
    unused = ("model.n_neighbors", "model.neighbor_score", "model.neighbor_values", "model.transform")
    return {k: v for k, v in params.items() if k not in unused}


def run(cfg: DictConfig, output_dir: Path, overrides: str = "") -> dict[str, float]:
    """The ``task=fig1_ggm`` job for one seed (skipped when this configuration already FINISHED,
    unless ``force``): simulate, cross-validate the three arms; returns the metrics and files
    :func:`tracking.run_job` logs."""
    start = time.time()
    ggm_config.check(cfg)  # bad input fails here: one line, nothing written
    seed = int(cfg.seed)

    def compute() -> job_runs.JobResult:
        ggm = cfg.ggm
        samples = sample_ggm_study(int(ggm.n_datasets), int(ggm.n_genes), int(ggm.n_cells), seed,
                                   edge_prob=float(ggm.get("edge_prob", 0.5)), margin=float(ggm.get("margin", 0.1)))
        predictions = cross_validate_arms(
            samples.values, samples.dataset, samples.pairs, samples.labels, samples.kinds,
            n_neighbors=int(cfg.neighbors), n_folds=int(ggm.n_folds), seed=seed,
            estimator_params=ggm_config.estimator_params(cfg), estimator=estimator_class(cfg),
            n_bins=int(cfg.model.get("n_bins", 32)),
            neighbor_rule=str(ggm.get("neighbor_rule", "positive")))
        metrics = study_metrics(predictions, float(ggm.get("sensitivity", 0.8)))
        metrics["wall_seconds"] = time.time() - start
        arms = [arm for arm in ARMS if arm in predictions]
        curves = {ARM_LABELS[arm]: (predictions.label, predictions[arm]) for arm in arms}
        files = [write_csv(predictions, output_dir / "predictions.csv"),
                 *save_roc_pr(curves, output_dir, f"GGM seed={seed}")]
        pct = {key: f"{metrics.get(key, float('nan')):.1%}" for key in (
            "fp_reduction/augmented", "fp_reduction/augmented_transitive", "fp_reduction_matched/augmented",
            "fp_reduction_matched/augmented_transitive")}
        print(f"GGM seed={seed}: " + " ".join(
            f"{arm} auroc={metrics[f'{arm}/auroc']:.3f} fp={metrics[f'{arm}/fp']:.0f} "
            f"fp_matched={metrics[f'{arm}/fp_matched']:.0f}" for arm in arms)
            + " | FP reduction augmented at 0.5 {} (transitive {}), at sensitivity {:g} {} (transitive {}) "
              "wall={:.1f}s".format(*list(pct.values())[:2], metrics["sensitivity"], *list(pct.values())[2:],
                                    metrics["wall_seconds"]))
        return job_runs.JobResult(metrics, files)

    return job_runs.run_job(cfg, output_dir, overrides, "fig1_ggm", compute, default_name="fig1_ggm",
                            params=_params(OmegaConf.to_container(cfg, resolve=True)),
                            tags={"data_source": f"sim.ggm seed={seed}"})
