"""Images of many small datasets at once (the GGM study has thousands of 3-6 gene datasets).

Datasets of one shape (N, cells, genes) are put side by side as one cells x (N * genes) matrix, so
each gene of each dataset is binned over its own range exactly as in
:class:`deepdrim.images.PairImageBuilder`, and the images of every dataset come from one
``np.bincount`` per chunk. :func:`dataset_pair_images` is DeepDRIM's (P, 2n+3) tensor per
(dataset, pair); :func:`augmented_images` the paper's 96x96 augmented image of 4-gene datasets;
:func:`arm_inputs` the three arms' inputs of the neighbor-image study (paper Fig. 1).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from deepdrim._validation import check_choice
from deepdrim.choices import NEIGHBOR_RULES
from deepdrim.histograms import bin_codes, histogram_images, histogram_lookup
from deepdrim.images import top_positive_neighbors, transform_expression

# augmented image: 3x3 grid of tiles; (row, col) of each of the 7 input images, in input order
AUGMENTED_ORDER = ("(a,b)", "(a,a)", "(b,b)", "(a,c)", "(a,d)", "(b,c)", "(b,d)")
AUGMENTED_TILES = ((1, 1), (0, 0), (2, 0), (0, 1), (0, 2), (2, 1), (2, 2))
_CHUNK = 500  # samples per bincount (memory: chunk x images x cells)
# which genes fill a gene's neighbor slots (deepdrim.choices.NEIGHBOR_RULES): "positive" = top positive
# covariance (the paper; with a signed precision matrix about half the slots stay blank), "absolute" =
# top |covariance| (non-zero), "all" = every other gene, ranked by |covariance| (no slot blank while a gene is left)


def check_gene_pairs(pairs, n_genes: int) -> np.ndarray:
    """(P, 2) int64 pairs of two different genes in 0..n_genes-1 (one pair may be given flat)."""
    arr = np.asarray(pairs)
    if arr.ndim == 1 and arr.size == 2:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"pairs must have shape (P, 2), got {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"pairs must be integer gene indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if ((arr < 0) | (arr >= n_genes)).any():
        raise ValueError(f"pairs hold index(es) out of range 0..{n_genes - 1}")
    if (arr[:, 0] == arr[:, 1]).any():
        raise ValueError("pairs must join two different genes")
    return arr


def stack_datasets(values_list, pairs, transform: str = "none") -> tuple[np.ndarray, np.ndarray]:
    """(N, cells, genes) float64 values and (N, 2) pairs, validated (one pair per dataset)."""
    if isinstance(values_list, (list, tuple)):
        values_list = [np.asarray(v) for v in values_list]
    try:
        values = np.asarray(values_list, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("values must be numeric cells x genes arrays, all of the same shape") from None
    if values.ndim == 2:
        values = values[None]
    if values.ndim != 3:
        raise ValueError(f"values must be (N, cells, genes) or a list of cells x genes arrays, got {values.ndim} dims")
    if values.shape[1] < 2:
        raise ValueError(f"datasets need at least 2 cells, got {values.shape[1]}")
    if not np.isfinite(values).all():
        raise ValueError("values have non-finite value(s)")
    if transform == "log" and (values < 0).any():
        raise ValueError('values have negative entries; transform="log" needs counts >= 0')
    arr = check_gene_pairs(pairs, values.shape[2])
    if arr.shape[0] != values.shape[0]:
        raise ValueError(f"got {values.shape[0]} dataset(s) but {arr.shape[0]} pair(s)")
    return values, arr


def _tiles(values: np.ndarray, dataset: np.ndarray, u: np.ndarray, v: np.ndarray, n_bins: int,
           transform: str) -> np.ndarray:
    """Eq.-2 images (P, K, nb, nb) float32 of genes (u[p, k], v[p, k]) of dataset ``dataset[p]``;
    all-zero where u or v is -1 (a missing neighbor)."""
    n_data, n_cells, n_genes = values.shape
    codes = bin_codes(transform_expression(values.transpose(1, 0, 2).reshape(n_cells, -1), transform), n_bins)
    lut = histogram_lookup(n_cells)
    missing = (u < 0) | (v < 0)
    offset = (np.asarray(dataset) * n_genes)[:, None]
    u, v = np.where(missing, 0, u) + offset, np.where(missing, 0, v) + offset
    out = np.empty(u.shape + (n_bins, n_bins), dtype=np.float32)
    for start in range(0, len(u), _CHUNK):
        part = slice(start, start + _CHUNK)
        out[part] = lut[histogram_images(codes, u[part].ravel(), v[part].ravel(), n_bins)].reshape(-1, u.shape[1], n_bins, n_bins)
    out[missing] = 0.0
    return out


def neighbor_genes(cov: np.ndarray, gene: np.ndarray, partner: np.ndarray, n_neighbors: int,
                   rule: str = "positive") -> np.ndarray:
    """(P, n) best neighbors of ``gene`` per sample (``cov``: (P, genes), the gene's row),
    excluding the gene and its partner, ties by gene index, -1 where a slot stays blank. ``rule``
    (:data:`NEIGHBOR_RULES`): "positive" is the rule of :class:`deepdrim.images.PairImageBuilder`."""
    check_choice("neighbor_rule", rule, NEIGHBOR_RULES)
    scores = np.array(cov, dtype=np.float64)
    if rule != "positive":
        scores = np.abs(scores) + (1.0 if rule == "all" else 0.0)  # "all": every gene scores > 0
    scores[np.arange(len(scores)), partner] = -np.inf
    return top_positive_neighbors(scores, np.asarray(gene), n_neighbors)


def dataset_pair_images(values, dataset, pairs, n_neighbors: int, n_bins: int = 32,
                        transform: str = "none", *, neighbor_rule: str = "positive") -> np.ndarray:
    """DeepDRIM's image tensor (P, 2n+3, nb, nb) float32 of pair ``pairs[k]`` of dataset
    ``values[dataset[k]]`` ((N, cells, genes) values), neighbors by covariance: with
    ``neighbor_rule="positive"`` equal per sample to ``pair_images(values[d], [pair], n,
    transform=transform)``; "absolute" / "all" rank by |covariance| (:data:`NEIGHBOR_RULES`)."""
    check_choice("neighbor_rule", neighbor_rule, NEIGHBOR_RULES)  # before the covariances are computed
    values = np.asarray(values, dtype=np.float64)
    dataset = np.asarray(dataset, dtype=np.int64)
    pairs = check_gene_pairs(pairs, values.shape[2])
    centred = values - values.mean(axis=1, keepdims=True)
    cov = np.einsum("dci,dcj->dij", centred, centred) / max(values.shape[1] - 1, 1)  # (datasets, genes, genes)
    a, b = pairs[:, 0], pairs[:, 1]
    a_nb = neighbor_genes(cov[dataset, a], a, b, n_neighbors, neighbor_rule)
    b_nb = neighbor_genes(cov[dataset, b], b, a, n_neighbors, neighbor_rule)
    # channel k is the image of genes (u_k, v_k): (a,b), (a,a), (b,b), (a,a_i)..., (b_j,b)...
    col = lambda g, k=1: np.repeat(g[:, None], k, 1)  # noqa: E731
    u = np.concatenate([col(a), col(a), col(b), col(a, n_neighbors), b_nb], axis=1)
    v = np.concatenate([col(b), col(a), col(b), a_nb, col(b, n_neighbors)], axis=1)
    return _tiles(values, dataset, u, v, n_bins, transform)


def augmented_image(images) -> np.ndarray:
    """Tile 7 images of a pair (a, b) of a 4-gene dataset (others c < d) into a 3x3 grid.

    ``images``: (..., 7, nb, nb) in the order (a,b), (a,a), (b,b), (a,c), (a,d), (b,c), (b,d)
    (image (u, v) has rows indexing v, columns u). Output (..., 3nb, 3nb), 96x96 for nb=32::

        (a,a)  (a,c)  (a,d)      <- gene a against itself and the two other genes
          0    (a,b)    0        <- primary image in the centre, two all-zero tiles
        (b,b)  (b,c)  (b,d)      <- gene b against itself and the two other genes
    """
    arr = np.asarray(images)
    if arr.ndim < 3 or arr.shape[-3] != 7 or arr.shape[-2] != arr.shape[-1]:
        raise ValueError(f"images must have shape (..., 7, nb, nb), got {arr.shape}")
    nb = arr.shape[-1]
    out = np.zeros(arr.shape[:-3] + (3 * nb, 3 * nb), dtype=arr.dtype)
    for k, (r, c) in enumerate(AUGMENTED_TILES):  # 7 tiles, each one vectorised slice copy
        out[..., r * nb : (r + 1) * nb, c * nb : (c + 1) * nb] = arr[..., k, :, :]
    return out


def primary_images(values_list, pairs, n_bins: int = 32, transform: str = "none") -> np.ndarray:
    """Primary images (N, nb, nb) float32 of pair (a_k, b_k) of dataset k (N datasets, same shape)."""
    values, arr = stack_datasets(values_list, pairs, transform)
    return _tiles(values, np.arange(len(arr)), arr[:, :1], arr[:, 1:], n_bins, transform)[:, 0]


def augmented_images(values_list, pairs, n_bins: int = 32, transform: str = "none") -> np.ndarray:
    """Augmented images (N, 3nb, 3nb) float32 (layout of :func:`augmented_image`) of 4-gene datasets.

    ``values_list``: N cells x 4 arrays of one shape (or an (N, cells, 4) array); ``pairs``: (N, 2).
    ``transform="none"`` bins the Gaussian values as they are; ``"log"`` applies paper eq. 1.
    """
    values, arr = stack_datasets(values_list, pairs, transform)
    return dataset_augmented_images(values, np.arange(len(arr)), arr, n_bins, transform)


def dataset_augmented_images(values, dataset, pairs, n_bins: int = 32, transform: str = "none") -> np.ndarray:
    """Augmented images (P, 3nb, 3nb) float32 of pair ``pairs[k]`` of 4-gene dataset ``values[dataset[k]]``
    ((N, 4 genes) datasets, indexed like :func:`dataset_pair_images`: no per-sample copy of the values)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 3 or values.shape[2] != 4:
        raise ValueError(f"augmented images need 4-gene datasets, got values of shape {values.shape}")
    arr = check_gene_pairs(pairs, 4)
    a, b = arr[:, 0], arr[:, 1]
    in_pair = (np.arange(4)[None, :] == a[:, None]) | (np.arange(4)[None, :] == b[:, None])
    others = np.nonzero(~in_pair)[1].reshape(-1, 2)  # c < d, row-major order of nonzero
    c, d = others[:, 0], others[:, 1]
    u = np.stack([a, a, b, a, a, b, b], axis=1)
    v = np.stack([b, a, b, c, d, c, d], axis=1)
    return augmented_image(_tiles(values, np.asarray(dataset, dtype=np.int64), u, v, n_bins, transform))


def arm_inputs(values, dataset, pairs, n_neighbors: int, n_bins: int = 32,
               neighbor_rule: str = "positive") -> dict[str, np.ndarray]:
    """Network input (P, channels, size, size) per arm of the neighbor-image study (paper Fig. 1),
    values binned as they are: ``primary`` (32x32 primary image), ``augmented`` (96x96, 4-gene
    datasets only) and ``deepdrim`` (:func:`dataset_pair_images`, neighbors by ``neighbor_rule``)."""
    tensor = dataset_pair_images(values, dataset, pairs, n_neighbors, n_bins, neighbor_rule=neighbor_rule)
    inputs = {"primary": tensor[:, :1]}  # channel 0 is the primary image (a, b), whatever the rule
    if np.shape(values)[2] == 4:
        inputs["augmented"] = dataset_augmented_images(values, dataset, pairs, n_bins)[:, None]
    inputs["deepdrim"] = tensor
    return inputs


def augmented_image_from_expression(values, pair: Sequence[int], n_bins: int = 32, transform: str = "none") -> np.ndarray:
    """Augmented image (3nb, 3nb) float32 of ``pair`` of one 4-gene cells x 4 dataset."""
    return augmented_images(np.asarray(values)[None], [tuple(pair)], n_bins, transform)[0]


__all__ = ["AUGMENTED_ORDER", "AUGMENTED_TILES", "check_gene_pairs", "stack_datasets", "neighbor_genes",
           "dataset_pair_images", "augmented_image", "primary_images", "augmented_images",
           "dataset_augmented_images", "arm_inputs", "augmented_image_from_expression"]
