"""Every choice and range of a DeepDRIM parameter, defined once and free of TensorFlow, so that
the estimator, the image builder, pairs, folds and ``run.py``'s validation pass read the same rule."""
from __future__ import annotations

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
