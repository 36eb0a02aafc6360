"""Unsupervised GRN baselines behind one interface: ``fn(expression, pairs, random_state=None) -> scores``.

``expression`` is cells x genes raw non-negative counts (array, or DataFrame with gene names as
columns); ``pairs`` is (P, 2) column indices (TF, target) or gene-name tuples with a DataFrame.
Every method returns float64 scores of shape (P,), higher = more likely an edge, and never
changes its input. :data:`BASELINES` maps each method name to its function; :func:`score_all`
looks a method up by name.

Unless a docstring says otherwise, a method scores paper eq. 1 values, ``log10(counts + 0.01)``
(:func:`deepdrim.images.log_expression`), the values DeepDRIM's images are made of.
``transform="none"`` (keyword) scores the values as given instead, for already continuous data
such as Gaussian samples (negative values allowed then).

GENIE3 and GRNBoost2 are re-implemented on scikit-learn, following arboreto 0.1.6
(``arboreto.core``): arboreto's own entry points need a dask.distributed cluster and, with
dask 2026.8, fail while building their graph ("Must supply at least one delayed object" from
``dask.dataframe.from_delayed``), so they cannot run in-process here.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Dict

import numpy as np
from scipy.special import xlogy
from scipy.stats import rankdata

from deepdrim._validation import check_choice, check_expression, check_pairs, check_real
from deepdrim.histograms import bin_codes, histogram_images
from deepdrim.images import transform_expression

logger = logging.getLogger(__name__)

#: arboreto's ``SGBM_KWARGS`` (GRNBoost2's stochastic gradient boosting), n_estimators aside.
GRNBOOST2_KWARGS = {"learning_rate": 0.01, "max_features": 0.1, "subsample": 0.9}
#: arboreto's ``EARLY_STOP_WINDOW_LENGTH``.
EARLY_STOP_WINDOW = 25
#: relative eigenvalue below which the correlation matrix counts as singular (ppcor -> pinv).
SINGULAR_RTOL = 1e-10
_MAX_SEED = 2**32 - 1


# ----------------------------------------------------------------------------------------------
# shared helpers


def _prepare(expression, pairs, transform: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values as given float64, values scored float64, validated (P, 2) int64 pairs)."""
    values, names = check_expression(expression, allow_negative=(transform == "none"))
    pairs = check_pairs(pairs, values.shape[1], names)
    scored = transform_expression(values, transform).astype(np.float64)
    return values, scored, pairs


def _batch_size(n_cells: int) -> int:
    """Pairs per batch so one batch of per-cell work stays around 4M entries."""
    return int(max(1, min(1024, 4_000_000 // max(n_cells, 1))))


def _seed(random_state) -> int:
    """One integer seed from None (fresh entropy), an int, a numpy Generator or RandomState."""
    if random_state is None:
        return int(np.random.default_rng().integers(_MAX_SEED))
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        if not 0 <= random_state <= _MAX_SEED:
            raise ValueError(f"random_state must be in 0..{_MAX_SEED}, got {random_state}")
        return int(random_state)
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(_MAX_SEED))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(_MAX_SEED))
    raise ValueError(f"random_state must be None, an int, a numpy Generator or RandomState, got {random_state!r}")


def _standardise(values: np.ndarray) -> np.ndarray:
    """Columns centred and scaled to unit norm; a constant column becomes all zeros."""
    centred = values - values.mean(axis=0)
    norm = np.sqrt((centred**2).sum(axis=0))
    varying = np.ptp(values, axis=0) > 0  # exact test: a constant column's mean may round
    return np.divide(centred, norm, out=np.zeros_like(centred), where=varying & (norm > 0))


def _abs_correlation(values: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """|Pearson r| of the column pairs, 0 where a column is constant."""
    unit = _standardise(values)
    out = np.empty(len(pairs))
    step = _batch_size(values.shape[0])
    for start in range(0, len(pairs), step):
        a, b = pairs[start : start + step].T
        out[start : start + step] = np.einsum("ij,ij->j", unit[:, a], unit[:, b])
    return np.minimum(np.abs(out), 1.0)


def _entropies(codes: np.ndarray, n_bins: int) -> np.ndarray:
    """Plug-in entropy (nats) of each gene's binned values."""
    n_cells, n_genes = codes.shape
    flat = codes.astype(np.int64) + np.arange(n_genes, dtype=np.int64) * n_bins
    p = np.bincount(flat.ravel(), minlength=n_genes * n_bins).reshape(n_genes, n_bins) / n_cells
    return -xlogy(p, p).sum(axis=1)


def _mutual_information(codes: np.ndarray, genes_u: np.ndarray, genes_v: np.ndarray, n_bins: int) -> np.ndarray:
    """Plug-in MI (nats) of gene pairs from their joint histograms: H(u) + H(v) - H(u, v)."""
    n_cells = codes.shape[0]
    entropy = _entropies(codes, n_bins)
    joint = np.empty(len(genes_u))
    step = _batch_size(n_cells)
    for start in range(0, len(genes_u), step):
        stop = start + step
        p = histogram_images(codes, genes_u[start:stop], genes_v[start:stop], n_bins) / n_cells
        joint[start:stop] = -xlogy(p, p).sum(axis=(1, 2))
    return np.maximum(entropy[genes_u] + entropy[genes_v] - joint, 0.0)


# ----------------------------------------------------------------------------------------------
# correlation and information baselines


def pcc(expression, pairs, random_state=None, *, transform: str = "log") -> np.ndarray:
    """|Pearson correlation| of each pair on eq.-1 values; 0 for a constant gene.

    ``random_state`` is ignored (the method is deterministic); it is there for the shared interface.
    """
    _, values, pairs = _prepare(expression, pairs, transform)
    return _abs_correlation(values, pairs)


def spearman(expression, pairs, random_state=None, *, transform: str = "log") -> np.ndarray:
    """|Spearman rank correlation| of each pair (average ranks for ties); 0 for a constant gene.

    Ranks are taken of the values as given: eq. 1 is monotone, so they equal the ranks of eq.-1
    values, without the ties that eq. 1's float32 rounding could add. ``transform`` is accepted for
    the shared interface ("none" also allows negative values). ``random_state`` is ignored.
    """
    raw, _, pairs = _prepare(expression, pairs, transform)
    return _abs_correlation(rankdata(raw, axis=0), pairs)


def mi(expression, pairs, random_state=None, *, n_bins: int = 32, transform: str = "log") -> np.ndarray:
    """Mutual information (nats) of each pair, plug-in estimate from the joint histogram.

    Genes are binned exactly as DeepDRIM's images are (:func:`deepdrim.histograms.bin_codes` of eq.-1
    values, ``n_bins`` equal-width bins per gene), so the score is the MI of the primary image's
    histogram. ``random_state`` is ignored.
    """
    _, values, pairs = _prepare(expression, pairs, transform)
    codes = bin_codes(values.astype(np.float32), n_bins)
    return _mutual_information(codes, pairs[:, 0], pairs[:, 1], n_bins)


def ppcor(expression, pairs, random_state=None, *, transform: str = "log") -> np.ndarray:
    """|Partial correlation| of each pair given ALL other genes of the expression matrix.

    From the precision matrix Omega of the genes' correlation matrix:
    ``P_ij = -Omega_ij / sqrt(Omega_ii Omega_jj)``. Omega is the inverse, or ``numpy.linalg.pinv``
    when the correlation matrix is singular or ill-conditioned (smallest eigenvalue below
    ``SINGULAR_RTOL`` times the largest, e.g. fewer cells than genes). A constant gene is
    uncorrelated with every gene and scores 0. Memory is genes x genes. ``random_state`` is ignored.
    """
    _, values, pairs = _prepare(expression, pairs, transform)
    unit = _standardise(values)
    corr = unit.T @ unit  # a constant gene's row and column are 0 ...
    corr[np.diag_indices_from(corr)] = 1.0  # ... and its diagonal 1: independent of the rest
    eigenvalues = np.linalg.eigvalsh(corr)
    if eigenvalues[0] > SINGULAR_RTOL * eigenvalues[-1]:
        omega = np.linalg.inv(corr)
    else:
        logger.info("ppcor: correlation matrix of %d genes is singular, using the pseudo-inverse", len(corr))
        omega = np.linalg.pinv(corr, hermitian=True)
    a, b = pairs[:, 0], pairs[:, 1]
    scale = np.sqrt(np.clip(np.diag(omega)[a] * np.diag(omega)[b], 0.0, None))
    partial = np.divide(-omega[a, b], scale, out=np.zeros(len(pairs)), where=scale > 0)
    return np.minimum(np.abs(partial), 1.0)


def clr(expression, pairs, random_state=None, *, n_bins: int = 32, transform: str = "log") -> np.ndarray:
    """Context likelihood of relatedness (Faith et al. 2007) on the :func:`mi` matrix.

    ``z_i = max(0, (MI_ij - mean_i) / std_i)`` with mean and (population) std over MI_ik of gene i
    against every other gene k of the matrix (the gene's own entropy MI_ii is left out); the score
    is ``sqrt(z_i**2 + z_j**2)``, 0 where a gene's MI row is constant. Only the MI rows of the genes
    in ``pairs`` are computed. ``random_state`` is ignored.
    """
    _, values, pairs = _prepare(expression, pairs, transform)
    n_genes = values.shape[1]
    codes = bin_codes(values.astype(np.float32), n_bins)
    genes, inverse = np.unique(pairs, return_inverse=True)
    inverse = inverse.reshape(pairs.shape)
    rows = _mutual_information(codes, np.repeat(genes, n_genes), np.tile(np.arange(n_genes), len(genes)), n_bins)
    rows = rows.reshape(len(genes), n_genes)
    others = np.ones(rows.shape, dtype=bool)
    others[np.arange(len(genes)), genes] = False
    mean = (rows * others).sum(axis=1) / (n_genes - 1)
    std = np.sqrt((((rows - mean[:, None]) ** 2) * others).sum(axis=1) / (n_genes - 1))
    mi_pair = rows[inverse[:, 0], pairs[:, 1]]

    def z_score(row):
        z = np.divide(mi_pair - mean[row], std[row], out=np.zeros(len(pairs)), where=std[row] > 0)
        return np.maximum(z, 0.0)

    return np.sqrt(z_score(inverse[:, 0]) ** 2 + z_score(inverse[:, 1]) ** 2)


# ----------------------------------------------------------------------------------------------
# tree-ensemble baselines (arboreto's GENIE3 and GRNBoost2 on scikit-learn)


class EarlyStopMonitor:
    """arboreto's GRNBoost2 early stopping, for ``GradientBoostingRegressor.fit(monitor=...)``:
    stop once the mean out-of-bag improvement of the last ``window_length`` rounds is negative."""

    def __init__(self, window_length: int = EARLY_STOP_WINDOW):
        self.window_length = window_length

    def __call__(self, current_round, regressor, _locals) -> bool:
        if current_round < self.window_length - 1:
            return False
        low = max(0, current_round - self.window_length + 1)
        return bool(np.mean(regressor.oob_improvement_[low : current_round + 1]) < 0)


def _fit_target(method: str, values: np.ndarray, tfs: np.ndarray, target: int, seed: int, params: dict) -> np.ndarray:
    """Importance of every gene (0 outside the regressors) for predicting one target gene."""
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor

    importance = np.zeros(values.shape[1])
    regressors = tfs[tfs != target]
    y = values[:, target]
    if regressors.size == 0 or np.ptp(y) == 0:  # nothing to explain: no split, all importances 0
        return importance
    x = values[:, regressors]
    if method == "genie3":
        model = RandomForestRegressor(
            n_estimators=params["n_estimators"], max_features="sqrt", random_state=seed, n_jobs=1
        ).fit(x, y)
        importance[regressors] = model.feature_importances_
    else:
        model = GradientBoostingRegressor(
            n_estimators=params["n_estimators"], random_state=seed, **GRNBOOST2_KWARGS
        ).fit(x, y, monitor=EarlyStopMonitor(params["early_stop_window"]))
        # arboreto de-normalises: regressions that kept boosting longer weigh more
        importance[regressors] = model.feature_importances_ * len(model.estimators_)
    return importance


def _tree_scores(method, expression, pairs, random_state, transform, n_jobs, params) -> np.ndarray:
    """One regression per distinct target of ``pairs`` with the distinct TFs (first genes of the
    pairs) other than the target as regressors; the score of (tf, target) is tf's importance.
    Every regression uses the same seed, as arboreto does, so a target's scores do not depend on
    the other targets or on ``n_jobs``."""
    from joblib import Parallel, delayed

    _, values, pairs = _prepare(expression, pairs, transform)
    seed = _seed(random_state)
    if len(pairs) == 0:
        return np.zeros(0)
    tfs = np.unique(pairs[:, 0])
    targets, row = np.unique(pairs[:, 1], return_inverse=True)
    start = time.perf_counter()
    importances = Parallel(n_jobs=n_jobs)(
        delayed(_fit_target)(method, values, tfs, int(target), seed, params) for target in targets
    )
    logger.info(
        "%s: %d target(s) x %d TF(s), %d cells in %.2fs",
        method, len(targets), len(tfs), values.shape[0], time.perf_counter() - start,
    )
    return np.asarray(importances)[row, pairs[:, 0]].astype(np.float64)


def genie3(
    expression, pairs, random_state=None, *, n_estimators: int = 100, n_jobs: int = 1, transform: str = "log"
) -> np.ndarray:
    """GENIE3 (Huynh-Thu et al. 2010) as arboreto runs it, on scikit-learn.

    Per distinct target gene of ``pairs``: a ``RandomForestRegressor(max_features="sqrt")`` on eq.-1
    values with the distinct TFs of ``pairs`` (their first genes, minus the target) as regressors;
    the score of (tf, target) is the forest's impurity importance of tf. arboreto and GENIE3 grow
    1000 trees; the default here is 100 to keep a benchmark fast (raise ``n_estimators`` to match).
    ``random_state`` seeds every forest (same seed per target, as arboreto); ``n_jobs`` targets are
    fitted in parallel (joblib) with identical results.
    """
    params = {"n_estimators": int(n_estimators)}
    return _tree_scores("genie3", expression, pairs, random_state, transform, n_jobs, params)


def grnboost2(
    expression,
    pairs,
    random_state=None,
    *,
    n_estimators: int = 5000,
    early_stop_window: int = EARLY_STOP_WINDOW,
    n_jobs: int = 1,
    transform: str = "log",
) -> np.ndarray:
    """GRNBoost2 (Moerman et al. 2019) as arboreto runs it, on scikit-learn.

    Per distinct target gene of ``pairs``: stochastic gradient boosting with arboreto's
    ``SGBM_KWARGS`` (learning_rate=0.01, up to ``n_estimators``=5000 trees, max_features=0.1,
    subsample=0.9) on eq.-1 values with the distinct TFs of ``pairs`` (minus the target) as
    regressors, stopped by arboreto's :class:`EarlyStopMonitor` (mean out-of-bag improvement of the
    last ``early_stop_window`` rounds < 0). The score is tf's importance times the number of trees
    fitted, as arboreto reports it. Seeding and ``n_jobs`` as :func:`genie3`.
    """
    params = {"n_estimators": int(n_estimators), "early_stop_window": int(early_stop_window)}
    return _tree_scores("grnboost2", expression, pairs, random_state, transform, n_jobs, params)


BASELINES: Dict[str, Callable[..., np.ndarray]] = {
    "pcc": pcc,
    "spearman": spearman,
    "mi": mi,
    "ppcor": ppcor,
    "clr": clr,
    "genie3": genie3,
    "grnboost2": grnboost2,
}


# ----------------------------------------------------------------------------------------------
# supervised shortcut baseline: gene identity alone

GENE_PRIOR_ROLES = ("target", "tf")


def gene_prior_scores(train_pairs, train_labels, test_pairs, *, by: str = "target",
                      smoothing: float = 0.0) -> np.ndarray:
    """Score each test pair by one of its genes' positive rate among the training pairs.

    A label-leak probe, not an inference method: it sees no expression, only which genes were
    positives in training. ``by="target"`` scores (tf, g) by the rate of training pairs (*, g)
    that are positive (g's in-degree shortcut; informative under the TF-aware split, where test
    targets also appear in training); ``by="tf"`` uses the rate of training pairs (tf, *)
    (informative under a random pair split with ``negatives="all"``; under the TF-aware and the
    strict split a test TF never heads a training pair). The rate is shrunk toward the overall
    training positive rate ``p0`` as ``(pos + smoothing * p0) / (n + smoothing)``; a gene never
    seen in that role scores ``p0``. Pairs are (P, 2) integer gene indices; returns float64 (P,).
    """
    check_choice("by", by, GENE_PRIOR_ROLES)
    smoothing = check_real("smoothing", smoothing, 0)
    train_pairs = np.asarray(train_pairs)
    test_pairs = np.asarray(test_pairs)
    train_labels = np.asarray(train_labels)
    for name, arr in (("train_pairs", train_pairs), ("test_pairs", test_pairs)):
        if arr.ndim != 2 or arr.shape[1] != 2 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
            raise ValueError(f"{name} must be a (P, 2) integer array of gene indices, got shape {arr.shape}")
    if train_labels.shape != (len(train_pairs),):
        raise ValueError(f"train_labels must have shape ({len(train_pairs)},), got {train_labels.shape}")
    if len(train_pairs) == 0:
        raise ValueError("train_pairs is empty: the gene prior needs training pairs")
    if not np.isin(train_labels, (0, 1)).all():
        raise ValueError("train_labels must be 0/1")
    column = 1 if by == "target" else 0
    base = float(train_labels.mean())
    genes, inverse = np.unique(train_pairs[:, column], return_inverse=True)
    n = np.bincount(inverse.ravel(), minlength=len(genes)).astype(np.float64)
    pos = np.bincount(inverse.ravel(), weights=train_labels.astype(np.float64), minlength=len(genes))
    rate = (pos + smoothing * base) / (n + smoothing)
    where = np.searchsorted(genes, test_pairs[:, column]) if len(genes) else np.zeros(len(test_pairs), int)
    where = np.minimum(where, len(genes) - 1)
    seen = genes[where] == test_pairs[:, column]
    return np.where(seen, rate[where], base).astype(np.float64)


def gene_prior_cv(pairs, labels, folds, *, by: str = "target", smoothing: float = 0.0) -> np.ndarray:
    """:func:`gene_prior_scores` of every pair from the fold that tests it, fitted on that fold's
    training pairs; ``folds`` are (train, test, ...) index tuples (:func:`deepdrim.cv.make_folds`).
    NaN for pairs no fold tests (the strict split leaves some untested)."""
    pairs, labels = np.asarray(pairs), np.asarray(labels)
    out = np.full(len(pairs), np.nan)
    for train, test, *_ in folds:  # loop over folds
        out[test] = gene_prior_scores(pairs[train], labels[train], pairs[test], by=by, smoothing=smoothing)
    return out


def target_mean_scores(expression, pairs, *, transform: str = "none") -> np.ndarray:
    """Score each pair (tf, g) by target g's mean expression over cells: a control with no training
    and no TF information at all. In hub-dominated ground truths (ChIP-seq networks where some
    genes are targets of nearly every TF) highly expressed genes are often the frequent targets,
    so this ranks pairs as a model that only learned the target's identity could, without labels.
    ``transform="none"`` (default) averages the values as loaded (counts, or BEELINE's already-log
    values); ``"log"`` averages eq.-1 values ``log10(x + 0.01)``, which weighs detection (zeros ->
    -2) more. Returns float64 (P,)."""
    check_choice("transform", transform, ("none", "log"))
    _, values, pairs = _prepare(expression, pairs, transform)
    return values.mean(axis=0)[pairs[:, 1]].astype(np.float64)


def score_all(expression, pairs, method: str, random_state=None, **kwargs) -> np.ndarray:
    """Scores of ``pairs`` by the baseline named ``method`` (a key of :data:`BASELINES`);
    ``kwargs`` go to that method (e.g. ``n_jobs`` for the tree ensembles)."""
    if method not in BASELINES:
        raise ValueError(f"unknown baseline method {method!r}; known: {', '.join(BASELINES)}")
    return BASELINES[method](expression, pairs, random_state, **kwargs)


__all__ = ["BASELINES", "score_all", "gene_prior_scores", "gene_prior_cv", "GENE_PRIOR_ROLES", "target_mean_scores", "pcc", "spearman", "mi", "ppcor", "clr", "genie3", "grnboost2", "EarlyStopMonitor"]
