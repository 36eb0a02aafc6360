"""Every choice and range of a DeepDRIM parameter, defined once and free of TensorFlow, so that
the estimator, the image builder, pairs, folds and ``run.py``'s validation pass read the same rule:
the choice tuples, and :data:`PARAMETERS`, the rule of each estimator parameter."""
from __future__ import annotations

from functools import partial
from typing import Any, Callable, Mapping

from deepdrim._validation import check_choice, check_flag, check_integer, check_real, check_sizes

#: check(name, value): the value, or a one-line ``ValueError`` naming ``name``
Rule = Callable[[str, Any], Any]

OPTIMIZERS = ("sgd", "adam")
#: what early stopping watches on the validation TFs
MONITORS = ("val_loss", "val_auroc", "val_auprc")
#: how a gene's neighbors are ranked (the paper: covariance)
NEIGHBOR_SCORES = ("covariance", "correlation")
#: the GGM study's neighbor rule: top positive covariance (the paper's), |covariance|, or every gene
NEIGHBOR_RULES = ("positive", "absolute", "all")
#: the values neighbors are ranked on (:func:`deepdrim.neighbors.neighbor_ranking_values`)
NEIGHBOR_VALUES = ("raw", "log", "library", "library_log")
#: expression transform before the histograms (paper eq. 1: log10(x + 0.01))
TRANSFORMS = ("log", "none")
#: negatives per TF: as many as its positives, or all its unlabelled pairs
NEGATIVE_MODES = ("balanced", "all")
#: CV splits: TF-aware (the paper's), or no gene on both sides
SPLITS = ("tf", "strict")
BATCH_ORDERS = ("grouped", "random")
PRECISIONS = ("float32", "mixed_bfloat16", "auto")
#: which images the network sees: all, or only those of the target gene (an ablation)
INPUTS = ("all", "target_only")
#: histogram bins per axis (the paper: 32); images are stored as uint8 counts' scale
N_BINS_RANGE = (2, 255)
#: above this the optimizer diverges on any data (weights NaN, every score equal, AUROC 0.5)
MAX_LEARNING_RATE = 1
#: the largest seed (``random_state``) numpy takes
MAX_SEED = 2**32 - 1


#: the rule of every :class:`deepdrim.DeepDRIM` constructor parameter: name -> check(name, value),
#: which raises a one-line ``ValueError`` naming ``name``. ``run.py``'s schema checks the config's
#: ``model.*`` (:data:`MODEL_PARAMETERS`) and ``training.*`` keys with these same rules.
PARAMETERS: dict[str, Rule] = {
    "n_neighbors": partial(check_integer, minimum=0),
    "n_bins": partial(check_integer, minimum=N_BINS_RANGE[0], maximum=N_BINS_RANGE[1]),
    "neighbor_score": partial(check_choice, options=NEIGHBOR_SCORES),
    "neighbor_values": partial(check_choice, options=NEIGHBOR_VALUES),
    "transform": partial(check_choice, options=TRANSFORMS),
    "conv_filters": check_sizes,
    "embedding": partial(check_integer, minimum=1),
    "conv_dropout": partial(check_real, low=0, high=1, high_open=True),
    "dense_units": check_sizes,
    "dense_dropout": partial(check_real, low=0, high=1, high_open=True),
    "inputs": partial(check_choice, options=INPUTS),
    "epochs": partial(check_integer, minimum=1),
    "min_epochs": partial(check_integer, minimum=0),
    "batch_size": partial(check_integer, minimum=1),
    "optimizer": partial(check_choice, options=OPTIMIZERS),
    "learning_rate": partial(check_real, low=0, high=MAX_LEARNING_RATE, low_open=True),
    "patience": partial(check_integer, minimum=0),
    "momentum": partial(check_real, low=0, high=1),
    "nesterov": check_flag,
    "lr_decay": partial(check_real, low=0),
    "validation_fraction": partial(check_real, low=0, high=1, high_open=True),
    "monitor": partial(check_choice, options=MONITORS),
    "verbose": partial(check_integer, minimum=0, maximum=2),
    "batch_order": partial(check_choice, options=BATCH_ORDERS),
    "precision": partial(check_choice, options=PRECISIONS),
    "steps_per_epoch": partial(check_integer, minimum=1, nullable=True),
    "max_validation_pairs": partial(check_integer, minimum=1, nullable=True),
    "plateau_validation": check_flag,
    "random_state": partial(check_integer, minimum=0, maximum=MAX_SEED, nullable=True),
}
#: the parameters of the network and its images (the config's ``model`` group); the others but
#: ``random_state`` (the config's ``seed``) are the ``training`` group's
MODEL_PARAMETERS = ("n_neighbors", "n_bins", "neighbor_score", "neighbor_values", "transform", "conv_filters",
                    "embedding", "conv_dropout", "dense_units", "dense_dropout", "inputs")


def check_parameters(params: Mapping, prefix: str = "") -> None:
    """Each known parameter of ``params`` (a dict or a config group) by its rule, then the rule
    joining two of them; the message names ``prefix + name`` (``model.n_bins``). Unknown keys pass."""
    for name, rule in PARAMETERS.items():
        if name in params:
            rule(prefix + name, params[name])
    if params.get("inputs") == "target_only" and params.get("n_neighbors") == 0:
        raise ValueError(f"{prefix}inputs='target_only' needs {prefix}n_neighbors >= 1: with n_neighbors=0 (CNNC) "
                         f"the only image is (tf, target)")
