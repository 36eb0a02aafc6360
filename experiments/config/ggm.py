"""The GGM study's config (``task=fig1_ggm``): its estimator parameters, and its own check (one-line
``ValueError`` before anything runs or is written, used by ``run.py``'s validation pass, the sweep
check and the task itself)."""
from __future__ import annotations

from omegaconf import DictConfig

from deepdrim._validation import check_choice, check_integer, check_real
from deepdrim.choices import NEIGHBOR_RULES, check_parameters
from experiments.config import checks, method
from sim.ggm import check_study

#: the CV job's real-data speed budgets (docs/results/speed.md) stay off: the GGM study trains as it was measured
SPEED_KEYS = ("steps_per_epoch", "max_validation_pairs", "plateau_validation")


def estimator_params(cfg: DictConfig) -> dict:
    """DeepDRIM constructor arguments of every arm (:func:`experiments.config.method.estimator_params`
    without the speed budgets); the study sets each arm's neighbors, image size and seed."""
    return {k: v for k, v in method.estimator_params(cfg).items() if k not in SPEED_KEYS}


def check(cfg: DictConfig) -> None:
    """One-line ``ValueError`` for a bad GGM study config, before anything runs or is written."""
    ggm = cfg.get("ggm")
    if ggm is None:
        raise ValueError("task=fig1_ggm needs the ggm config: run it as experiment=fig1_ggm")
    n_genes, _, _ = check_study(ggm.get("n_genes"), ggm.get("n_cells"), ggm.get("edge_prob", 0.5),
                                ggm.get("margin", 0.1), prefix="ggm.")  # the simulator's own rules
    n_folds = check_integer("ggm.n_folds", ggm.get("n_folds"), 2)
    n_datasets = check_integer("ggm.n_datasets", ggm.get("n_datasets"), 1)
    if n_datasets < 2 * n_folds:
        raise ValueError(f"ggm.n_datasets={n_datasets} is too few for {n_folds} folds (need at least {2 * n_folds})")
    checks.neighbors(cfg.get("neighbors"), n_genes, minimum=1)  # the DeepDRIM arm's neighbors per gene
    check_real("ggm.sensitivity", ggm.get("sensitivity", 0.8), 0, 1, low_open=True)
    check_choice("ggm.neighbor_rule", ggm.get("neighbor_rule", "positive"), NEIGHBOR_RULES)
    check_parameters(cfg.training, "training.")  # the arms' estimator's rules
    check_real("training.validation_fraction", cfg.training.get("validation_fraction", 0.2), 0, 1,
               low_open=True, high_open=True)  # the study selects epochs on held-out datasets
