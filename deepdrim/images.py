"""Gene-pair images: paper eq. 1-2, 32x32 joint histograms, primary + 2n+2 neighbor images.

Image of genes (u, v) is ``numpy.histogram2d(x_u, x_v, bins=n_bins)[0].T`` over all cells
(rows index v, columns index u, as the reference code), normalised by paper eq. 2.
Everything here is numpy only: every gene is binned once into uint8 codes, a batch of
images is one ``np.bincount``, and a gene's self and neighbor images are cached because
they repeat for every pair that gene is in.
"""
from __future__ import annotations

from typing import Iterator, Optional, Sequence

import numpy as np

from deepdrim._validation import check_expression, check_pairs

PSEUDO_COUNT = 0.01  # paper eq. 1
HIST_FLOOR = 1e-4  # paper eq. 2
NEIGHBOR_SCORES = ("covariance", "correlation")
TRANSFORMS = ("log", "none")


def log_expression(counts) -> np.ndarray:
    """Paper eq. 1: ``log10(counts + 0.01)`` as float32, any shape."""
    return np.log10(np.asarray(counts, dtype=np.float64) + PSEUDO_COUNT).astype(np.float32)


def transform_expression(values, transform: str = "log") -> np.ndarray:
    """Values that are binned: eq. 1 of raw counts (``"log"``) or the values as given (``"none"``,
    for already continuous data such as Gaussian graphical model samples)."""
    if transform == "log":
        return log_expression(values)
    if transform == "none":
        return np.asarray(values, dtype=np.float32)
    raise ValueError(f"transform must be one of {TRANSFORMS}, got {transform!r}")


def bin_codes(values: np.ndarray, n_bins: int = 32) -> np.ndarray:
    """Per-gene bin index (cells x genes, uint8) exactly as ``numpy.histogram2d`` assigns it.

    Each gene's ``n_bins`` equal-width bins span its own min..max (edges from ``np.linspace``,
    a value on an inner edge goes right, the maximum goes to the last bin). A constant gene has
    numpy's range ``value -/+ 0.5`` and so falls in bin ``n_bins // 2`` for every cell.
    """
    values = np.asarray(values)
    if not 1 <= n_bins <= 255:
        raise ValueError(f"n_bins must be in 1..255, got {n_bins}")
    low = values.min(axis=0).astype(np.float64)
    high = values.max(axis=0).astype(np.float64)
    constant = low == high
    low = np.where(constant, low - 0.5, low)
    high = np.where(constant, high + 0.5, high)
    edges = np.linspace(low, high, n_bins + 1, axis=1)  # genes x (n_bins + 1)
    codes = np.zeros(values.shape, dtype=np.uint8)
    for k in range(1, n_bins):  # loop over bin edges, vectorised over cells and genes
        codes += values >= edges[:, k]
    return codes


def normalise_histogram(counts: np.ndarray, n_cells: int) -> np.ndarray:
    """Paper eq. 2 with sum(H) = number of cells: ``log10(H / n_cells + 1e-4) / 4 + 1``.

    An empty bin gives exactly 0, so an all-zero image is an image of no cells.
    """
    return (np.log10(counts / float(n_cells) + HIST_FLOOR) / 4.0 + 1.0).astype(np.float32)


def histogram_images(codes: np.ndarray, genes_u: np.ndarray, genes_v: np.ndarray, n_bins: int = 32, *,
                     gene_major: bool = False) -> np.ndarray:
    """Raw joint-histogram counts (int64) of the gene pairs (u_k, v_k), shape (K, n_bins, n_bins), [v, u].

    ``codes`` is cells x genes from :func:`bin_codes` (or its transpose, genes x cells, with
    ``gene_major=True``: the fast layout, rows are copied whole). One ``np.bincount`` over
    ``k * n_bins**2 + code_v * n_bins + code_u`` in image-major order, which keeps each image's
    counts in cache.
    """
    genes_u = np.asarray(genes_u, dtype=np.intp)
    genes_v = np.asarray(genes_v, dtype=np.intp)
    n_images = genes_u.shape[0]
    if n_images == 0:
        return np.zeros((0, n_bins, n_bins), dtype=np.int64)
    rows = codes if gene_major else codes.T
    pixel = rows[genes_v].astype(np.intp)
    pixel *= n_bins
    pixel += rows[genes_u]
    pixel += (np.arange(n_images, dtype=np.intp) * (n_bins * n_bins))[:, None]
    hist = np.bincount(pixel.ravel(), minlength=n_images * n_bins * n_bins)
    return hist.reshape(n_images, n_bins, n_bins)


def histogram_lookup(n_cells: int) -> np.ndarray:
    """Eq. 2 for every possible bin count 0..n_cells (float32), so images are one gather."""
    return normalise_histogram(np.arange(n_cells + 1, dtype=np.float64), n_cells)


def neighbor_scores(values: np.ndarray, genes: np.ndarray, score: str = "covariance") -> np.ndarray:
    """Score of every gene against each of ``genes`` (len(genes) x n_genes), computed over cells on
    ``values`` exactly as given (the expression matrix as loaded, before eq. 1, as the reference's
    ``np.cov``). ``"correlation"`` is Pearson's r on the same matrix (0 for a constant gene)."""
    if score not in NEIGHBOR_SCORES:
        raise ValueError(f"neighbor_score must be one of {NEIGHBOR_SCORES}, got {score!r}")
    values = np.asarray(values, dtype=np.float64)
    centred = values - values.mean(axis=0)
    n_cells = values.shape[0]
    cov = centred[:, genes].T @ centred / max(n_cells - 1, 1)
    if score == "covariance":
        return cov
    std = centred.std(axis=0, ddof=1) if n_cells > 1 else np.zeros(values.shape[1])
    denom = np.outer(std[genes], std)
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.where(denom > 0, cov / np.where(denom > 0, denom, 1.0), 0.0)
    return corr


def top_positive_neighbors(scores: np.ndarray, genes: np.ndarray, n_candidates: int) -> np.ndarray:
    """For each row gene, the ``n_candidates`` other genes of highest positive score, best first,
    ties broken by gene index; -1 where fewer positive candidates exist."""
    scores = np.array(scores, dtype=np.float64)
    rows = np.arange(len(genes))
    scores[rows, genes] = -np.inf  # never the gene itself
    order = np.argsort(-scores, axis=1, kind="stable")[:, :n_candidates]
    best = np.take_along_axis(scores, order, axis=1)
    order = np.where(best > 0, order, -1)
    if order.shape[1] < n_candidates:
        pad = np.full((len(genes), n_candidates - order.shape[1]), -1, dtype=order.dtype)
        order = np.concatenate([order, pad], axis=1)
    return order.astype(np.int64)


class PairImageBuilder:
    """Builds DeepDRIM's image tensors for gene pairs of one expression matrix, batch by batch.

    Output of :meth:`build` is float32 (P, 2n+3, n_bins, n_bins) in the reference order:
    0 = (a, b); 1 = (a, a); 2 = (b, b); 3..n+2 = (a, a_i) for a's neighbors in decreasing
    score; n+3..2n+2 = (b_j, b) for b's neighbors in decreasing score. Neighbors of a gene are
    the n genes other than a and b with the highest *positive* score (covariance by default);
    missing slots are all-zero images. Per gene, the self image and the images against its
    n+1 best candidates are computed once and cached (memory grows with genes, not pairs).
    """

    def __init__(
        self,
        expression,
        n_neighbors: int = 10,
        n_bins: int = 32,
        neighbor_score: str = "covariance",
        transform: str = "log",
    ):
        values, self.gene_names = check_expression(expression, allow_negative=(transform == "none"))
        if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, (int, np.integer)) or n_neighbors < 0:
            raise ValueError(f"n_neighbors must be a non-negative integer, got {n_neighbors!r}")
        if n_neighbors > 0 and n_neighbors >= values.shape[1] - 1:
            raise ValueError(
                f"n_neighbors={n_neighbors} needs at least {n_neighbors + 2} genes, the expression has {values.shape[1]}"
            )
        if neighbor_score not in NEIGHBOR_SCORES:
            raise ValueError(f"neighbor_score must be one of {NEIGHBOR_SCORES}, got {neighbor_score!r}")
        self.n_neighbors = int(n_neighbors)
        self.n_bins = int(n_bins)
        self.neighbor_score = neighbor_score
        self.transform = transform
        self.n_cells, self.n_genes = values.shape
        self._values = values
        self.codes = np.ascontiguousarray(  # genes x cells: one row per gene
            bin_codes(transform_expression(values, transform), self.n_bins).T)
        self._lut = histogram_lookup(self.n_cells)
        # gene -> row in the caches; filled lazily for the genes that pairs use
        self._row = np.full(self.n_genes, -1, dtype=np.int64)
        self._candidates = np.zeros((0, self.n_neighbors + 1), dtype=np.int64)
        self._stack = np.zeros((0, self.n_neighbors + 2, self.n_bins, self.n_bins), dtype=np.float32)
        self._stack_t = self._stack  # the same images transposed, for the (b_j, b) group

    @property
    def n_channels(self) -> int:
        return 2 * self.n_neighbors + 3 if self.n_neighbors else 1

    def resolve_pairs(self, pairs) -> np.ndarray:
        """Validated (P, 2) int64 gene indices from indices or gene-name tuples."""
        return check_pairs(pairs, self.n_genes, self.gene_names)

    def _ensure_cached(self, genes: np.ndarray) -> None:
        new = np.unique(genes[self._row[genes] < 0])
        if new.size == 0:
            return
        n = self.n_neighbors
        candidates = top_positive_neighbors(neighbor_scores(self._values, new, self.neighbor_score), new, n + 1)
        # stack per gene: [self image, image (g, c_1), ..., image (g, c_{n+1})]; missing -> zeros
        partners = np.concatenate([new[:, None], np.where(candidates < 0, new[:, None], candidates)], axis=1)
        counts = histogram_images(self.codes, np.repeat(new, n + 2), partners.ravel(), self.n_bins, gene_major=True)
        stack = self._lut[counts].reshape(len(new), n + 2, self.n_bins, self.n_bins)
        stack[:, 1:][candidates < 0] = 0.0
        self._row[new] = np.arange(len(new)) + len(self._candidates)
        self._candidates = np.concatenate([self._candidates, candidates])
        self._stack = np.concatenate([self._stack, stack])
        self._stack_t = np.concatenate([self._stack_t, stack.transpose(0, 1, 3, 2)])

    def _neighbor_rows(self, genes: np.ndarray, partners: np.ndarray) -> np.ndarray:
        """(P, n) flat rows into the cache stack of images (g, g_i) for the n best candidates of
        g other than its partner, in decreasing score."""
        n = self.n_neighbors
        rows = self._row[genes]
        candidates = self._candidates[rows]  # (P, n+1)
        hit = candidates == partners[:, None]
        skip_at = np.where(hit.any(axis=1), hit.argmax(axis=1), n + 1)
        slots = np.arange(n)[None, :]
        take = slots + (slots >= skip_at[:, None])  # skip the partner, keep order
        return rows[:, None] * (n + 2) + 1 + take

    def build(self, pairs, out: Optional[np.ndarray] = None) -> np.ndarray:
        """Image tensor (P, 2n+3, n_bins, n_bins) float32 for already validated (P, 2) indices,
        written into ``out`` when given."""
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        a, b = pairs[:, 0], pairs[:, 1]
        n = self.n_neighbors
        if out is None:
            out = np.empty((len(pairs), self.n_channels, self.n_bins, self.n_bins), dtype=np.float32)
        out[:, 0] = self._lut[histogram_images(self.codes, a, b, self.n_bins, gene_major=True)]
        if n == 0:
            return out
        self._ensure_cached(pairs.ravel())
        flat = self._stack.reshape(-1, self.n_bins, self.n_bins)
        flat_t = self._stack_t.reshape(-1, self.n_bins, self.n_bins)
        # np.take into each channel's view: no temporaries (a loop over channels, not pairs)
        np.take(flat, self._row[a] * (n + 2), axis=0, out=out[:, 1], mode="clip")
        np.take(flat, self._row[b] * (n + 2), axis=0, out=out[:, 2], mode="clip")
        left, right = self._neighbor_rows(a, b), self._neighbor_rows(b, a)
        for i in range(n):
            np.take(flat, left[:, i], axis=0, out=out[:, 3 + i], mode="clip")
            # (b_j, b) is the transpose of the cached (b, b_j)
            np.take(flat_t, right[:, i], axis=0, out=out[:, n + 3 + i], mode="clip")
        return out

    def iter_batches(self, pairs, batch_size: int = 256) -> Iterator[np.ndarray]:
        """Yield image tensors for consecutive batches of pairs (memory stays one batch)."""
        pairs = self.resolve_pairs(pairs)
        for start in range(0, len(pairs), batch_size):
            yield self.build(pairs[start : start + batch_size])


def pair_images(
    expression,
    pairs,
    n_neighbors: int = 10,
    n_bins: int = 32,
    *,
    neighbor_score: str = "covariance",
    transform: str = "log",
    batch_size: int = 1024,
) -> np.ndarray:
    """All images of ``pairs`` in RAM: float32 (P, 2n+3, n_bins, n_bins), or (P, 1, ...) for n=0.

    ``expression``: cells x genes raw non-negative counts (array or DataFrame with gene names as
    columns); ``pairs``: (P, 2) column indices or gene-name tuples. ``neighbor_score`` is computed
    on ``expression`` as given; ``transform="none"`` bins the values without eq. 1 (negative
    values allowed). A constant gene falls in the middle bin (numpy's rule), so its images are
    defined. The in-RAM convenience over :class:`PairImageBuilder`, which streams.
    """
    builder = PairImageBuilder(expression, n_neighbors, n_bins, neighbor_score, transform)
    resolved = builder.resolve_pairs(pairs)
    out = np.empty((len(resolved), builder.n_channels, builder.n_bins, builder.n_bins), dtype=np.float32)
    for start in range(0, len(resolved), batch_size):
        builder.build(resolved[start : start + batch_size], out=out[start : start + batch_size])
    return out


__all__: Sequence[str] = [
    "log_expression",
    "transform_expression",
    "bin_codes",
    "normalise_histogram",
    "histogram_images",
    "histogram_lookup",
    "neighbor_scores",
    "top_positive_neighbors",
    "PairImageBuilder",
    "pair_images",
]
