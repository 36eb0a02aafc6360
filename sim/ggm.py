"""Gaussian graphical model (GGM) datasets of the paper's neighbor-image study (Methods, Fig. 1).

Each dataset is a sparse precision matrix Θ (the ground-truth network: genes i and j interact
directly iff Θ_ij != 0) and cells drawn from N(0, Θ⁻¹). From each dataset one direct pair
(positive) and one independent pair (Θ_ij = 0, negative) are studied, as a 32x32 primary image
or a 96x96 augmented image (primary + six neighbor images), both built by the library
(:func:`deepdrim.multi_images.augmented_image`); this module only samples the data.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import numpy as np
from scipy.linalg import solve_triangular
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from deepdrim._validation import check_integer, check_real
from deepdrim.multi_images import check_gene_pairs

RandomState = Union[None, int, np.random.Generator]

DIRECT = "direct"
TRANSITIVE = "transitive"
RANDOM = "random"
SELF = "self"
PAIR_KINDS = (DIRECT, TRANSITIVE, RANDOM)


def sample_precision(
    n_genes: int,
    random_state: RandomState = None,
    edge_prob: float = 0.5,
    low: float = 0.25,
    high: float = 1.0,
    margin: float = 0.1,
) -> np.ndarray:
    """Random sparse symmetric positive definite precision matrix Θ (n_genes x n_genes, float64).

    Each off-diagonal entry (i < j) is non-zero with probability ``edge_prob`` and then uniform on
    [-high, -low] ∪ [low, high] (draw order: edge mask, signs, magnitudes, each over the upper
    triangle in row-major order). The diagonal is then set to |λ_min(off-diagonal part)| + margin,
    i.e. raised until the smallest eigenvalue of Θ is exactly ``margin``: this makes Θ positive
    definite without touching the off-diagonal entries, so the network (sparsity pattern) drawn
    is the network used. The off-diagonal part has trace 0, so λ_min <= 0 and the diagonal is
    always >= margin.
    """
    n_genes = check_integer("n_genes", n_genes, 2)
    if not 0.0 <= edge_prob <= 1.0:
        raise ValueError(f"edge_prob must be in [0, 1], got {edge_prob}")
    if not 0.0 < low <= high:
        raise ValueError(f"need 0 < low <= high, got low={low}, high={high}")
    _check_margin(margin)
    rng = np.random.default_rng(random_state)
    upper = np.triu_indices(n_genes, k=1)
    n_pairs = upper[0].size
    mask = rng.random(n_pairs) < edge_prob
    signs = np.where(rng.random(n_pairs) < 0.5, -1.0, 1.0)
    magnitudes = rng.uniform(low, high, n_pairs)
    theta = np.zeros((n_genes, n_genes))
    theta[upper] = np.where(mask, signs * magnitudes, 0.0)
    theta = theta + theta.T
    lam_min = np.linalg.eigvalsh(theta)[0]
    np.fill_diagonal(theta, abs(lam_min) + margin)
    try:
        np.linalg.cholesky(theta)
    except np.linalg.LinAlgError:
        raise ValueError(f"precision cannot be made positive definite with margin={margin}") from None
    return theta


def _sample_expression(precision: np.ndarray, n_cells: int, rng: np.random.Generator) -> np.ndarray:
    """Cells x genes draws of N(0, Θ⁻¹): with Θ = L Lᵀ, x = L⁻ᵀ z has covariance Θ⁻¹ (no inverse)."""
    lower = np.linalg.cholesky(precision)
    z = rng.standard_normal((precision.shape[0], n_cells))
    return solve_triangular(lower.T, z, lower=False).T.copy()


def sample_ggm(
    n_genes: int, n_cells: int, random_state: RandomState = None, **precision_kwargs
) -> tuple[np.ndarray, np.ndarray]:
    """(expression cells x genes float64 ~ N(0, Θ⁻¹), Θ) with Θ from :func:`sample_precision`.

    Sampling uses the Cholesky factor of Θ and the same seeded generator that drew Θ.
    """
    n_cells = check_integer("n_cells", n_cells, 1)
    rng = np.random.default_rng(random_state)
    precision = sample_precision(n_genes, rng, **precision_kwargs)
    return _sample_expression(precision, n_cells, rng), precision


def _check_precision(precision) -> np.ndarray:
    theta = np.asarray(precision, dtype=np.float64)
    if theta.ndim != 2 or theta.shape[0] != theta.shape[1]:
        raise ValueError(f"precision must be a square matrix, got shape {theta.shape}")
    if not np.isfinite(theta).all():
        raise ValueError("precision has non-finite value(s)")
    if not np.array_equal(theta != 0, (theta != 0).T):
        raise ValueError("precision must have a symmetric sparsity pattern")
    return theta


def pair_truth(precision) -> np.ndarray:
    """Genes x genes object array of pair labels: "direct" iff Θ_ij != 0, else "transitive" when
    i and j are connected through other genes in the graph of Θ, else "random"; diagonal "self"."""
    theta = _check_precision(precision)
    adjacency = theta != 0
    np.fill_diagonal(adjacency, False)
    _, component = connected_components(csr_matrix(adjacency), directed=False)
    same = component[:, None] == component[None, :]
    labels = np.where(adjacency, DIRECT, np.where(same, TRANSITIVE, RANDOM)).astype(object)
    np.fill_diagonal(labels, SELF)
    return labels


def classify_pairs(precision, pairs) -> np.ndarray:
    """Label ("direct"/"transitive"/"random", object array) of each (i, j) in ``pairs`` (P x 2)."""
    labels = pair_truth(precision)
    arr = check_gene_pairs(pairs, labels.shape[0])
    return labels[arr[:, 0], arr[:, 1]]


def sample_study_pairs(
    precision, random_state: RandomState = None
) -> Optional[tuple[tuple[int, int], tuple[int, int]]]:
    """One uniformly drawn direct pair and one independent pair (Θ_ij = 0), each as (i, j), i < j.

    Returns None when Θ has no direct or no independent pair (:func:`sample_ggm_dataset` then
    draws a new Θ). Draw order: the positive pair, then the negative pair.
    """
    theta = _check_precision(precision)
    rows, cols = np.triu_indices(theta.shape[0], k=1)
    direct = theta[rows, cols] != 0
    pos_idx, neg_idx = np.flatnonzero(direct), np.flatnonzero(~direct)
    if pos_idx.size == 0 or neg_idx.size == 0:
        return None
    rng = np.random.default_rng(random_state)
    p = pos_idx[rng.integers(pos_idx.size)]
    n = neg_idx[rng.integers(neg_idx.size)]
    return (int(rows[p]), int(cols[p])), (int(rows[n]), int(cols[n]))


@dataclass
class GGMSamples:
    """The studied pairs of N GGM datasets: ``values`` (N, cells, genes), ``precision`` (N, genes,
    genes); per sample (dataset k gives 2k direct, 2k+1 independent) its ``dataset``, gene
    ``pairs`` (a, b) with a < b, ``labels`` (1 = direct) and ``kinds`` ("direct"/"transitive"/"random")."""

    values: np.ndarray
    precision: np.ndarray
    dataset: np.ndarray
    pairs: np.ndarray
    labels: np.ndarray
    kinds: np.ndarray


def _draw_dataset(n_genes: int, n_cells: int, rng: np.random.Generator, max_tries: int, **precision_kwargs):
    """(expression, precision, positive pair, negative pair, negative kind) of one accepted Θ."""
    for _ in range(max_tries):  # rejection loop over whole precision matrices
        precision = sample_precision(n_genes, rng, **precision_kwargs)
        pairs = sample_study_pairs(precision, rng)
        if pairs is not None:
            break
    else:
        raise RuntimeError(f"no precision with both a direct and an independent pair in {max_tries} draws")
    positive, negative = pairs
    return _sample_expression(precision, n_cells, rng), precision, positive, negative, pair_truth(precision)[negative]


def check_study(n_genes: int, n_cells: int, edge_prob: float = 0.5, margin: float = 0.1, max_tries: int = 10_000,
                prefix: str = "") -> tuple[int, int, int]:
    """The GGM study's own rules, one-line ``ValueError`` naming each key with ``prefix`` (a config's
    ``ggm.``): >= 3 genes (2 genes have a single pair), >= 2 cells, 0 < edge_prob < 1 (both pair
    kinds), margin > 0. Returns (n_genes, n_cells, max_tries) as ints."""
    if check_integer(f"{prefix}n_genes", n_genes, 0) < 3:
        raise ValueError(f"the GGM study needs at least 3 genes per dataset (p >= 3), got {prefix}n_genes={n_genes}")
    check_real(f"{prefix}edge_prob", edge_prob, 0, 1, low_open=True, high_open=True)
    _check_margin(margin, f"{prefix}margin")
    return int(n_genes), check_integer(f"{prefix}n_cells", n_cells, 2), check_integer("max_tries", max_tries, 1)


def _check_margin(margin, name: str = "margin") -> None:
    if isinstance(margin, (bool, np.bool_)) or not isinstance(margin, (int, float, np.integer, np.floating)) \
            or not margin > 0:
        raise ValueError(f"a precision cannot be made positive definite with {name}={margin!r}; it must be > 0")


def _samples(draws: list) -> GGMSamples:
    """The drawn datasets stacked as one :class:`GGMSamples` (two samples per dataset)."""
    expression, precision, positive, negative, kind = zip(*draws)
    n = len(draws)
    pairs = np.stack([np.array(positive), np.array(negative)], axis=1).reshape(2 * n, 2).astype(np.int64)
    kinds = np.stack([np.full(n, DIRECT, dtype=object), np.array(kind, dtype=object)], axis=1).ravel()
    return GGMSamples(np.stack(expression), np.stack(precision), np.repeat(np.arange(n), 2), pairs,
                      np.tile(np.array([1, 0], dtype=np.int64), n), kinds)


def sample_ggm_dataset(
    n_genes: int,
    n_cells: int,
    random_state: RandomState = None,
    max_tries: int = 10_000,
    **precision_kwargs,
) -> GGMSamples:
    """One GGM dataset (N = 1) with its studied positive (direct) and negative (independent) pair.

    Θ is redrawn until it has both a direct and an independent pair (the paper draws one of each
    per dataset), so the accepted Θ follow the edge distribution conditioned on that; cells are
    then drawn from the accepted Θ. Needs n_genes >= 3 (2 genes have a single pair) and
    0 < edge_prob < 1; RuntimeError after ``max_tries`` rejected draws.
    """
    n_genes, n_cells, max_tries = check_study(n_genes, n_cells, precision_kwargs.get("edge_prob", 0.5),
                                              precision_kwargs.get("margin", 0.1), max_tries)
    return _samples([_draw_dataset(n_genes, n_cells, np.random.default_rng(random_state), max_tries,
                                   **precision_kwargs)])


def sample_ggm_study(n_datasets: int, n_genes: int, n_cells: int, seed: int, max_tries: int = 10_000,
                     **precision_kwargs) -> GGMSamples:
    """``n_datasets`` datasets of :func:`sample_ggm_dataset`, dataset k drawn from the k-th child of
    ``SeedSequence(seed)`` (so a larger study extends a smaller one with the same seed)."""
    from threadpoolctl import threadpool_limits

    n_genes, n_cells, max_tries = check_study(n_genes, n_cells, precision_kwargs.get("edge_prob", 0.5),
                                              precision_kwargs.get("margin", 0.1), max_tries)
    seeds = np.random.SeedSequence(seed).spawn(check_integer("n_datasets", n_datasets, 1))
    with threadpool_limits(1):  # tiny solves: BLAS threads cost more than they save (3x here)
        return _samples([_draw_dataset(n_genes, n_cells, np.random.default_rng(s), max_tries, **precision_kwargs)
                         for s in seeds])  # loop over datasets; each draw is vectorised


__all__ = [
    "DIRECT",
    "TRANSITIVE",
    "RANDOM",
    "PAIR_KINDS",
    "sample_precision",
    "sample_ggm",
    "pair_truth",
    "classify_pairs",
    "sample_study_pairs",
    "GGMSamples",
    "sample_ggm_dataset",
    "sample_ggm_study",
    "check_study",
]
