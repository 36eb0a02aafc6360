"""The paper's neighbor-image study (Fig. 1) on Gaussian graphical model (GGM) data: ``task=fig1_ggm``.

Per dataset (``sim.ggm.sample_ggm_dataset``) one direct pair (positive) and one independent pair
(negative, "transitive" or "random") are scored by three arms, each cross-validated on the same
dataset-level folds:

- ``primary``: the CNNC-like Network A (``deepdrim.model.build_model(0)``) on the 32x32 primary image;
- ``augmented``: the same network on the 96x96 augmented image (``deepdrim.multi_images.augmented_images``: the
  primary image in the centre of a 3x3 grid with the pair's self images and its genes against the
  two other genes; 4-gene datasets only, the paper's setting);
- ``deepdrim``: DeepDRIM itself (Network A + siamese Network B, ``build_model(n)``) on the primary
  image plus its neighbor tensor, ``neighbors`` neighbors per gene (at most ``n_genes - 2``).

Every arm trains through the library (``deepdrim.DeepDRIM.fit_images``): the estimator's early
stopping, ``min_epochs`` and best-epoch rule. Folds are over datasets: both pairs of a dataset fall in the same fold, so every fold holds exactly
as many positives as negatives (stratified by construction). Images bin the Gaussian values as they
are (``transform="none"``). Logged per arm: AUROC, AUPRC, false positives at threshold 0.5 split into
random and transitive; and the relative FP reduction of augmented and DeepDRIM vs primary, overall and
transitive (paper: 40.4% and 55.4%). Seeds are swept by the preset; their mean and 95% CI are the
study figure's job (``experiments.reports.figures``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from experiments.tracking import artifacts, job_runs
from experiments.config import ggm as ggm_config

ARMS = ("primary", "augmented", "deepdrim")
ARM_LABELS = {"primary": "primary (32x32)", "augmented": "augmented (96x96)", "deepdrim": "DeepDRIM"}
THRESHOLD = 0.5
CHUNK = 500  # samples per image batch (memory: chunk x images x cells int64)


@dataclass
class GGMSamples:
    """All studied pairs: ``values`` (datasets, cells, genes); per sample its ``dataset``, gene
    ``pairs`` (a, b), ``labels`` (1 = direct) and ``kinds`` ("direct"/"transitive"/"random")."""

    values: np.ndarray
    dataset: np.ndarray
    pairs: np.ndarray
    labels: np.ndarray
    kinds: np.ndarray


def simulate(ggm: DictConfig, seed: int) -> GGMSamples:
    """``ggm.n_datasets`` seeded datasets (one independent seed per dataset, so a larger study
    extends a smaller one) and their positive + negative pair; samples 2k, 2k+1 are dataset k's."""
    from threadpoolctl import threadpool_limits

    from sim.ggm import sample_ggm_dataset

    seeds = np.random.SeedSequence(seed).spawn(int(ggm.n_datasets))
    kwargs = {"edge_prob": float(ggm.get("edge_prob", 0.5)), "margin": float(ggm.get("margin", 0.1))}
    with threadpool_limits(1):  # tiny solves: BLAS threads cost more than they save (3x here)
        drawn = [sample_ggm_dataset(int(ggm.n_genes), int(ggm.n_cells), np.random.default_rng(s), **kwargs)
                 for s in seeds]  # loop over datasets; each draw is vectorised
    values = np.stack([d.expression for d in drawn])
    pairs = np.array([p for d in drawn for p in (d.positive_pair, d.negative_pair)], dtype=np.int64)
    kinds = np.array([k for d in drawn for k in ("direct", d.negative_kind)], dtype=object)
    return GGMSamples(values, np.repeat(np.arange(len(drawn)), 2), pairs,
                      np.tile(np.array([1, 0], dtype=np.int64), len(drawn)), kinds)


def deepdrim_images(values: np.ndarray, dataset: np.ndarray, pairs: np.ndarray, n_neighbors: int,
                    n_bins: int = 32, neighbor_rule: str = "positive") -> np.ndarray:
    """DeepDRIM's image tensor (P, 2n+3, nb, nb) of every sample, values binned as they are
    (:func:`deepdrim.multi_images.dataset_pair_images`, all datasets at once); ``neighbor_rule``
    ("positive" = the paper, "absolute", "all") picks the DeepDRIM arm's neighbors."""
    from deepdrim.multi_images import dataset_pair_images

    return dataset_pair_images(values, dataset, pairs, n_neighbors, n_bins, transform="none",
                               neighbor_rule=neighbor_rule)


def arm_inputs(samples: GGMSamples, n_neighbors: int, n_bins: int = 32,
               neighbor_rule: str = "positive") -> dict[str, np.ndarray]:
    """Network input (P, channels, size, size) per arm; ``augmented`` only for 4-gene datasets.
    The primary arm's image (channel 0) does not depend on ``neighbor_rule``."""
    from deepdrim.multi_images import augmented_images

    tensor = deepdrim_images(samples.values, samples.dataset, samples.pairs, n_neighbors, n_bins, neighbor_rule)
    inputs = {"primary": tensor[:, :1]}  # channel 0 is the primary image (a, b)
    if samples.values.shape[2] == 4:
        parts = [augmented_images(samples.values[samples.dataset[s:s + CHUNK]], samples.pairs[s:s + CHUNK], n_bins)
                 for s in range(0, len(samples.pairs), CHUNK)]
        inputs["augmented"] = np.concatenate(parts)[:, None]
    inputs["deepdrim"] = tensor
    return inputs


def dataset_folds(n_datasets: int, n_folds: int, seed: int) -> np.ndarray:
    """Fold index of each dataset: a seeded permutation cut into ``n_folds`` near-equal parts."""
    fold = np.empty(n_datasets, dtype=np.int64)
    for k, part in enumerate(np.array_split(np.random.default_rng(seed).permutation(n_datasets), n_folds)):
        fold[part] = k
    return fold


def arm_estimator(cfg: DictConfig, n_neighbors: int, size: int, seed: int):
    """The library's estimator for one arm: the model and training groups of ``cfg`` (its
    early stopping, ``min_epochs`` and best-epoch rule included), ``size`` x ``size`` images."""
    from deepdrim import DeepDRIM

    # the CV job's real-data speed budgets (docs/results/speed.md) stay off: the GGM study trains as it was measured
    known = set(DeepDRIM().get_params()) - {"steps_per_epoch", "max_validation_pairs", "plateau_validation"}
    params = {k: v for k, v in {**OmegaConf.to_container(cfg.model, resolve=True),
                                **OmegaConf.to_container(cfg.training, resolve=True)}.items() if k in known}
    params.update(n_neighbors=n_neighbors, n_bins=size, random_state=seed, verbose=0,
                  conv_filters=tuple(params["conv_filters"]), dense_units=tuple(params["dense_units"]))
    return DeepDRIM(**params)


def cross_validate(cfg: DictConfig, samples: GGMSamples, seed: int) -> pd.DataFrame:
    """Scores of every sample per arm from the fold that held its dataset out. Each fold trains the
    library's estimator on the fold's training datasets (:meth:`deepdrim.DeepDRIM.fit_images`, seeded
    per arm): validation datasets for early stopping are drawn from them as the estimator draws
    TFs, and the estimator's ``min_epochs``/best-epoch rule applies."""
    from tqdm.auto import tqdm

    ggm = cfg.ggm
    n_folds, n_datasets = int(ggm.n_folds), samples.values.shape[0]
    inputs = arm_inputs(samples, int(cfg.neighbors), int(cfg.model.get("n_bins", 32)),
                        str(ggm.get("neighbor_rule", "positive")))
    fold = dataset_folds(n_datasets, n_folds, seed)[samples.dataset]
    scores = {arm: np.full(len(samples.labels), np.nan) for arm in inputs}
    with tqdm(total=n_folds * len(inputs), desc="GGM CV", unit="fit", leave=False) as bar:
        for i, (arm, x) in enumerate(inputs.items()):
            for k in range(n_folds):
                train, test = fold != k, fold == k
                model = arm_estimator(cfg, int(cfg.neighbors) if arm == "deepdrim" else 0, x.shape[-1], seed * 1000 + i)
                model.fit_images(x[train], samples.labels[train], groups=samples.dataset[train])
                scores[arm][test] = model.predict_proba_images(x[test])[:, 1]
                bar.update(1)
                bar.set_postfix(arm=arm, fold=k)
    frame = pd.DataFrame({"dataset": samples.dataset, "gene_a": samples.pairs[:, 0], "gene_b": samples.pairs[:, 1],
                          "label": samples.labels, "kind": samples.kinds, "fold": fold})
    for arm, values in scores.items():
        frame[arm] = values
    return frame


def _reduction(before: float, after: float) -> float:
    """Relative reduction 1 - after/before (NaN when there was nothing to reduce)."""
    return float(1.0 - after / before) if before > 0 else float("nan")


def study_metrics(predictions: pd.DataFrame, sensitivity: float = 0.8) -> dict[str, float]:
    """Per arm AUROC/AUPRC, AUROC of the positives against transitive / random negatives only
    (``<arm>/auroc_transitive``, ``<arm>/auroc_random``), FPs at 0.5 (overall, random, transitive),
    FPs where the arm finds ``sensitivity`` of the positives (``<arm>/fp_matched``,
    ``..._random``, ``..._transitive``, ``<arm>/threshold_matched``) and per-fold AUROC; the
    relative FP reductions of each arm vs primary at 0.5 (``fp_reduction/<arm>``, ``.../<arm>_transitive``)
    and at matched sensitivity (``fp_reduction_matched/<arm>``, ``.../<arm>_transitive``, ``..._random``)."""
    from deepdrim.metrics import auprc, auroc, false_positives_at_sensitivity, fp_reduction_at_sensitivity

    labels = predictions.label.to_numpy()
    negative = labels == 0
    metrics: dict[str, float] = {
        "n_samples": float(len(labels)),
        "n_negative_random": float((predictions.kind == "random").sum()),
        "n_negative_transitive": float((predictions.kind == "transitive").sum()),
    }
    arms = [arm for arm in ARMS if arm in predictions]
    kind = predictions.kind.to_numpy().astype(str)
    metrics["sensitivity"] = float(sensitivity)
    for arm in arms:
        score = predictions[arm].to_numpy()
        for negative_kind in ("transitive", "random"):
            keep = (labels == 1) | (kind == negative_kind)
            if (kind == negative_kind).any():
                metrics[f"{arm}/auroc_{negative_kind}"] = auroc(labels[keep], score[keep])
        matched = false_positives_at_sensitivity(labels, score, kind, sensitivity)
        metrics[f"{arm}/threshold_matched"] = matched["threshold"]
        metrics[f"{arm}/tpr_matched"] = matched["tpr"]
        for key in ("fp", "fp_random", "fp_transitive"):
            metrics[f"{arm}/{key.replace('fp', 'fp_matched', 1)}"] = matched.get(key, 0.0)
        called = score >= THRESHOLD
        metrics[f"{arm}/auroc"] = auroc(labels, score)
        metrics[f"{arm}/auprc"] = auprc(labels, score)
        metrics[f"{arm}/fp"] = float((called & negative).sum())
        metrics[f"{arm}/fp_random"] = float((called & (predictions.kind == "random").to_numpy()).sum())
        metrics[f"{arm}/fp_transitive"] = float((called & (predictions.kind == "transitive").to_numpy()).sum())
        metrics[f"{arm}/tp"] = float((called & ~negative).sum())
        for k, part in predictions.groupby("fold"):
            metrics[f"{arm}/fold{k}/auroc"] = auroc(part.label, part[arm])
    for arm in arms[1:]:
        metrics[f"fp_reduction/{arm}"] = _reduction(metrics["primary/fp"], metrics[f"{arm}/fp"])
        metrics[f"fp_reduction/{arm}_transitive"] = _reduction(metrics["primary/fp_transitive"],
                                                               metrics[f"{arm}/fp_transitive"])
        matched = fp_reduction_at_sensitivity(labels, predictions["primary"].to_numpy(), predictions[arm].to_numpy(),
                                              kind, sensitivity)
        for key in ("fp_reduction", "fp_reduction_transitive", "fp_reduction_random"):
            if key in matched:
                metrics[f"fp_reduction_matched/{arm}{key[len('fp_reduction'):]}"] = matched[key]
    return metrics


def _params(resolved: dict) -> dict:
    """What this study depends on, flattened for MLflow (not the cv task's data/degradation keys)."""
    keep = ("task", "study", "seed", "neighbors", "ggm", "model", "training")
    params = job_runs.flatten({k: v for k, v in resolved.items() if k in keep})
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
        samples = simulate(cfg.ggm, seed)
        predictions = cross_validate(cfg, samples, seed)
        metrics = study_metrics(predictions, float(cfg.ggm.get("sensitivity", 0.8)))
        metrics["wall_seconds"] = time.time() - start
        curves = {ARM_LABELS[arm]: (predictions.label, predictions[arm]) for arm in ARMS if arm in predictions}
        files = [artifacts.write_csv(predictions, output_dir / "predictions.csv"),
                 *artifacts.curve_figures(curves, output_dir, f"GGM seed={seed}")]
        arms = [arm for arm in ARMS if f"{arm}/auroc" in metrics]
        nan = float("nan")
        print("GGM seed={}: {} | FP reduction augmented at 0.5 {} (transitive {}), at sensitivity {:g} {} "
              "(transitive {}) wall={:.1f}s".format(
                  seed, " ".join(f"{arm} auroc={metrics[f'{arm}/auroc']:.3f} fp={metrics[f'{arm}/fp']:.0f} "
                                 f"fp_matched={metrics[f'{arm}/fp_matched']:.0f}" for arm in arms),
                  f"{metrics.get('fp_reduction/augmented', nan):.1%}",
                  f"{metrics.get('fp_reduction/augmented_transitive', nan):.1%}", metrics["sensitivity"],
                  f"{metrics.get('fp_reduction_matched/augmented', nan):.1%}",
                  f"{metrics.get('fp_reduction_matched/augmented_transitive', nan):.1%}", metrics["wall_seconds"]))
        return job_runs.JobResult(metrics, files)

    return job_runs.run_job(cfg, output_dir, overrides, "fig1_ggm", compute, default_name="fig1_ggm",
                            params=_params(OmegaConf.to_container(cfg, resolve=True)),
                            tags={"data_source": f"sim.ggm seed={seed}"})
