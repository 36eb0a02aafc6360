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

from deepdrim._validation import check_choice, check_expression, check_integer, check_neighbors, check_pairs
from deepdrim.choices import NEIGHBOR_SCORES, TRANSFORMS, check_parameters
from deepdrim.histograms import bin_codes, histogram_lookup, normalised_images, run_parts, self_images

PSEUDO_COUNT = 0.01  # paper eq. 1


def log_expression(counts) -> np.ndarray:
    """Paper eq. 1: ``log10(counts + 0.01)`` as float32, any shape."""
    return np.log10(np.asarray(counts, dtype=np.float64) + PSEUDO_COUNT).astype(np.float32)


def transform_expression(values, transform: str = "log") -> np.ndarray:
    """Values that are binned: eq. 1 of raw counts (``"log"``) or the values as given (``"none"``,
    for already continuous data such as Gaussian graphical model samples)."""
    if check_choice("transform", transform, TRANSFORMS) == "log":
        return log_expression(values)
    return np.asarray(values, dtype=np.float32)


def neighbor_scores(values: np.ndarray, genes: np.ndarray, score: str = "covariance") -> np.ndarray:
    """Score of every gene against each of ``genes`` (len(genes) x n_genes), computed over cells on
    ``values`` exactly as given (the expression matrix as loaded, before eq. 1, as the reference's
    ``np.cov``). ``"correlation"`` is Pearson's r on the same matrix (0 for a constant gene).

    When ``genes`` are at least half of all genes the whole matrix is ``np.cov`` itself (one
    symmetric product, half the work of the rows alone, and the reference's very numbers).
    """
    check_choice("neighbor_score", score, NEIGHBOR_SCORES)
    values = np.asarray(values, dtype=np.float64)
    genes = np.asarray(genes, dtype=np.intp)
    n_cells = values.shape[0]
    if 2 * genes.size >= values.shape[1] and n_cells > 1:
        cov = np.cov(values, rowvar=False).reshape(values.shape[1], values.shape[1])[genes]
        centred = None
    else:
        centred = values - values.mean(axis=0)
        cov = centred[:, genes].T @ centred / max(n_cells - 1, 1)
    if score == "covariance":
        return cov
    if n_cells > 1:
        centred = values - values.mean(axis=0) if centred is None else centred
        std = centred.std(axis=0, ddof=1)
    else:
        std = np.zeros(values.shape[1])
    denom = np.outer(std[genes], std)
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.where(denom > 0, cov / np.where(denom > 0, denom, 1.0), 0.0)
    return corr


def top_positive_neighbors(scores: np.ndarray, genes: np.ndarray, n_candidates: int) -> np.ndarray:
    """For each row gene, the ``n_candidates`` other genes of highest positive score, best first,
    ties broken by gene index; -1 where fewer positive candidates exist.

    A partial sort: the ``n_candidates`` best per row are found with ``argpartition`` (those tied
    with the last one by lowest index) and only they are sorted, which is what a full stable
    ``argsort`` of the row would give."""
    scores = np.array(scores, dtype=np.float64)
    n_rows, n_columns = scores.shape
    rows = np.arange(n_rows)
    scores[rows, genes] = -np.inf  # never the gene itself
    keep = min(n_candidates, n_columns)
    if 0 < keep < n_columns and not np.isnan(scores).any():
        part = np.argpartition(-scores, keep - 1, axis=1)[:, :keep]
        last = scores[rows[:, None], part].min(axis=1, keepdims=True)  # the keep-th best score
        above = scores > last
        tied = scores == last
        # all scores above the keep-th best, then the lowest-index ties until there are keep
        chosen = above | (tied & (np.cumsum(tied, axis=1) <= keep - above.sum(axis=1, keepdims=True)))
        columns = np.nonzero(chosen)[1].reshape(n_rows, keep)  # ascending gene index per row
        order = np.take_along_axis(columns, np.argsort(-scores[rows[:, None], columns], axis=1, kind="stable"), 1)
    else:
        order = np.argsort(-scores, axis=1, kind="stable")[:, :keep]
    best = np.take_along_axis(scores, order, axis=1)
    order = np.where(best > 0, order, -1)
    if order.shape[1] < n_candidates:
        pad = np.full((n_rows, n_candidates - order.shape[1]), -1, dtype=order.dtype)
        order = np.concatenate([order, pad], axis=1)
    return order.astype(np.int64)


class PairImageBuilder:
    """Builds DeepDRIM's image tensors for gene pairs of one expression matrix, batch by batch.

    Output of :meth:`build` is float32 (P, 2n+3, n_bins, n_bins) in the reference order:
    0 = (a, b); 1 = (a, a); 2 = (b, b); 3..n+2 = (a, a_i) for a's neighbors in decreasing
    score; n+3..2n+2 = (b_j, b) for b's neighbors in decreasing score. Neighbors of a gene are
    the n genes other than a and b with the highest *positive* score (covariance by default) on
    ``neighbor_values`` (``"raw"``: the matrix as loaded, the reference; ``"log"``, ``"library"``,
    ``"library_log"``: :func:`deepdrim.neighbors.neighbor_ranking_values`, which drops hub genes);
    missing slots are all-zero images. What repeats across pairs is cached per gene: its n+1
    best candidates, its self image, and the images (g, c) / (c, g) against its candidates, each
    computed the first time a batch reads it, and once per unordered gene pair ((c, g) is the
    transpose of (g, c)). Memory grows with genes, not pairs; a batch is then one ``np.take``
    from the cache into the output.
    """

    _ZERO_ROW = 0  # row 0 of the cache is the all-zero image of a missing neighbor

    def __init__(
        self,
        expression,
        n_neighbors: int = 10,
        n_bins: int = 32,
        neighbor_score: str = "covariance",
        transform: str = "log",
        neighbor_values: str = "raw",
    ):
        from deepdrim.neighbors import neighbor_ranking_values  # neighbors imports this module

        check_parameters({"n_bins": n_bins, "transform": transform, "neighbor_score": neighbor_score,
                          "neighbor_values": neighbor_values})
        values, self.gene_names = check_expression(expression, allow_negative=(transform == "none"))
        self.n_neighbors = check_neighbors("n_neighbors", n_neighbors, values.shape[1])
        self.n_bins = int(n_bins)
        self.neighbor_score = neighbor_score
        self.neighbor_values = neighbor_values
        self.transform = transform
        self.n_cells, self.n_genes = values.shape
        # what neighbors are ranked on: the matrix as loaded ("raw", the reference) or normalised
        self._values = values if neighbor_values == "raw" else neighbor_ranking_values(values, neighbor_values)
        self.codes = np.ascontiguousarray(  # genes x cells: one row per gene (no copy: see bin_codes)
            bin_codes(transform_expression(values, transform), self.n_bins).T)
        self._lut = histogram_lookup(self.n_cells)
        # the cache: image rows, filled lazily with what batches read
        self._images = np.zeros((1, self.n_bins, self.n_bins), dtype=np.float32)
        self._used = 1
        self._self_row = np.full(self.n_genes, -1, dtype=np.int64)
        slots = (self.n_genes, self.n_neighbors + 1)
        self._candidates = np.full(slots, -1, dtype=np.int64)  # n+1 best candidates, -1 = none
        self._has_candidates = np.zeros(self.n_genes, dtype=bool)
        # cache row of image (g, c_j) and of image (c_j, g); -1 = not computed yet
        self._rows = {True: np.full(slots, -1, dtype=np.int64), False: np.full(slots, -1, dtype=np.int64)}

    @property
    def n_channels(self) -> int:
        return 2 * self.n_neighbors + 3 if self.n_neighbors else 1

    def resolve_pairs(self, pairs) -> np.ndarray:
        """Validated (P, 2) int64 gene indices from indices or gene-name tuples."""
        return check_pairs(pairs, self.n_genes, self.gene_names)

    def _reserve(self, rows: int) -> None:
        """Room for ``rows`` more cache rows after the used ones (grows geometrically)."""
        needed = self._used + rows
        if needed > len(self._images):
            grown = np.empty((max(needed, 2 * len(self._images)), self.n_bins, self.n_bins), dtype=np.float32)
            grown[: self._used] = self._images[: self._used]
            self._images = grown

    def _ensure_candidates(self, genes: np.ndarray) -> None:
        new = np.unique(genes[~self._has_candidates[genes]])
        if new.size:
            scores = neighbor_scores(self._values, new, self.neighbor_score)
            candidates = top_positive_neighbors(scores, new, self.n_neighbors + 1)
            self._candidates[new] = candidates
            self._has_candidates[new] = True
            for rows in self._rows.values():
                rows[new] = np.where(candidates < 0, self._ZERO_ROW, -1)

    def _ensure_self(self, genes: np.ndarray) -> None:
        new = np.unique(genes[self._self_row[genes] < 0])
        if new.size:
            self._reserve(new.size)
            self._images[self._used : self._used + new.size] = self_images(self.codes, new, self._lut, self.n_bins)
            self._self_row[new] = self._used + np.arange(new.size)
            self._used += new.size

    def _partner_slot(self, genes: np.ndarray, partners: np.ndarray) -> np.ndarray:
        """(P,) slot of each partner among its gene's n+1 candidates; n+1 where it is not one."""
        hit = self._candidates[genes] == partners[:, None]
        return np.where(hit.any(axis=1), hit.argmax(axis=1), self.n_neighbors + 1)

    def _slots(self, partner_slot: np.ndarray) -> np.ndarray:
        """(P, n) candidate slots of g's n neighbors: its n best candidates other than its partner
        (at ``partner_slot``), in decreasing score."""
        slots = np.arange(self.n_neighbors)[None, :]
        return slots + (slots >= partner_slot[:, None])

    def _ensure_neighbor_images(self, requests: Sequence[tuple[np.ndarray, np.ndarray, bool]]) -> None:
        """Compute the not yet cached images (gene, slot) of the requests ``(genes, slots, gene_first)``;
        an unordered gene pair is counted once, its other orientation is a transposed copy."""
        n_slots = self.n_neighbors + 1
        keys, gene_u, gene_v = [], [], []
        for genes, slots, gene_first in requests:
            flat = (genes[:, None] * n_slots + slots).ravel()
            flat = np.unique(flat[self._rows[gene_first].ravel()[flat] < 0])
            gene, partner = flat // n_slots, self._candidates.ravel()[flat]
            keys.append(flat * 2 + gene_first)
            gene_u.append(gene if gene_first else partner)
            gene_v.append(partner if gene_first else gene)
        keys, gene_u, gene_v = (np.concatenate(x) for x in (keys, gene_u, gene_v))
        if keys.size == 0:
            return
        flipped = gene_u > gene_v
        unordered = np.where(flipped, gene_v * self.n_genes + gene_u, gene_u * self.n_genes + gene_v)
        _, home, which = np.unique(unordered, return_index=True, return_inverse=True)
        which = which.ravel()
        # one histogram per unordered pair, in the orientation of its first request
        self._reserve(home.size + keys.size)
        first = self._used
        normalised_images(self.codes, gene_u[home], gene_v[home], self._lut,
                          self._images[first : first + home.size], self.n_bins)
        self._used += home.size
        row = first + which
        # requests in the other orientation: transposed copies of their home image
        other = np.flatnonzero(flipped != flipped[home][which])
        if other.size:
            source = self._images[row[other]]
            self._images[self._used : self._used + other.size] = source.transpose(0, 2, 1)
            row[other] = self._used + np.arange(other.size)
            self._used += other.size
        side = keys % 2 == 1
        for gene_first in (True, False):
            chosen = side == gene_first
            self._rows[gene_first].ravel()[keys[chosen] // 2] = row[chosen]

    def _primary_rows(self, a: np.ndarray, b: np.ndarray, slot_of_b: np.ndarray, slot_of_a: np.ndarray) -> np.ndarray:
        """Cache rows holding the images (a, b): cached already when b is one of a's candidates
        (``slot_of_b`` <= n) or a one of b's; the rest are computed into scratch rows after the
        cache, so that one take assembles the batch."""
        rows = np.full(len(a), -1, dtype=np.int64)
        for genes, slot, gene_first in ((a, slot_of_b, True), (b, slot_of_a, False)):
            listed = slot <= self.n_neighbors
            cached = self._rows[gene_first][genes, np.minimum(slot, self.n_neighbors)]
            found = listed & (cached > self._ZERO_ROW) & (rows < 0)
            rows[found] = cached[found]
        todo = np.flatnonzero(rows < 0)
        self._reserve(todo.size)
        scratch = self._images[self._used : self._used + todo.size]
        normalised_images(self.codes, a[todo], b[todo], self._lut, scratch, self.n_bins)
        rows[todo] = self._used + np.arange(todo.size)
        return rows

    @property
    def images(self) -> np.ndarray:
        """The image buffer (rows, n_bins, n_bins) float32 that :meth:`rows` indexes (row 0 is the
        all-zero image of a missing neighbor). Replaced when the cache grows: read it after ``rows``."""
        return self._images

    def rows(self, pairs, *, keep_primary: bool = False) -> np.ndarray:
        """(P, channels) rows of :attr:`images` holding each pair's images, in :meth:`build`'s channel
        order, for already validated (P, 2) indices. The neighbor and self images are per-gene rows
        shared by every pair of that gene, which lets a network embed each row once. Primary images
        not already cached go to scratch rows that the next call reuses, unless ``keep_primary``."""
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        a, b = pairs[:, 0], pairs[:, 1]
        n, p = self.n_neighbors, len(pairs)
        if n == 0:
            self._reserve(p)
            normalised_images(self.codes, a, b, self._lut, self._images[self._used : self._used + p], self.n_bins)
            rows = (self._used + np.arange(p, dtype=np.intp))[:, None]
            self._used += p if keep_primary else 0
            return rows
        self._ensure_candidates(pairs.ravel())
        self._ensure_self(pairs.ravel())
        slot_of_b, slot_of_a = self._partner_slot(a, b), self._partner_slot(b, a)
        slots_a, slots_b = self._slots(slot_of_b), self._slots(slot_of_a)
        self._ensure_neighbor_images([(a, slots_a, True), (b, slots_b, False)])
        rows = np.empty((p, self.n_channels), dtype=np.intp)
        rows[:, 0] = self._primary_rows(a, b, slot_of_b, slot_of_a)
        if keep_primary:
            self._used = max(self._used, int(rows[:, 0].max(initial=0)) + 1)
        rows[:, 1] = self._self_row[a]
        rows[:, 2] = self._self_row[b]
        rows[:, 3 : n + 3] = np.take_along_axis(self._rows[True][a], slots_a, axis=1)
        rows[:, n + 3 :] = np.take_along_axis(self._rows[False][b], slots_b, axis=1)
        return rows

    def target_rows(self, pairs) -> np.ndarray:
        """(P, channels) rows of :attr:`images` with only the images of each pair's target b:
        channel 2 = (b, b) and channels n+3..2n+2 = (b_j, b) for b's n best candidates; every other
        channel is row 0 (the all-zero image). Unlike :meth:`rows`, b's neighbors do not skip the
        TF (when it is one of b's candidates), so the rows are a function of b alone: a model fed
        them can only learn the target's identity (the target-only ablation). Needs n >= 1."""
        if self.n_neighbors == 0:
            raise ValueError("target-only images need n_neighbors >= 1 (with n=0 the only image is (tf, target))")
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        b, n = pairs[:, 1], self.n_neighbors
        self._ensure_candidates(b)
        self._ensure_self(b)
        slots = np.tile(np.arange(n), (len(b), 1))
        self._ensure_neighbor_images([(b, slots, False)])
        rows = np.full((len(pairs), self.n_channels), self._ZERO_ROW, dtype=np.intp)
        rows[:, 2] = self._self_row[b]
        rows[:, n + 3 :] = self._rows[False][b, :n]
        return rows

    def build(self, pairs, out: Optional[np.ndarray] = None) -> np.ndarray:
        """Image tensor (P, 2n+3, n_bins, n_bins) float32 for already validated (P, 2) indices,
        written into ``out`` when given."""
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        shape = (len(pairs), self.n_channels, self.n_bins, self.n_bins)
        if out is None:
            out = np.empty(shape, dtype=np.float32)
        elif out.shape != shape or out.dtype != np.float32:
            raise ValueError(f"out must be float32 of shape {shape}, got {out.dtype} {out.shape}")
        rows = self.rows(pairs)
        direct = out.flags.c_contiguous
        flat = out.reshape(-1, self.n_bins, self.n_bins) if direct else np.empty((rows.size,) + shape[2:], np.float32)
        rows, images = rows.ravel(), self._images

        def gather(part: slice) -> None:  # rows < len(images): mode="clip" only skips the bounds check
            np.take(images, rows[part], axis=0, out=flat[part], mode="clip")

        run_parts(gather, len(rows), flat.size)
        if not direct:
            out[...] = flat.reshape(shape)
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
    neighbor_values: str = "raw",
    batch_size: int = 1024,
) -> np.ndarray:
    """All images of ``pairs`` in RAM: float32 (P, 2n+3, n_bins, n_bins), or (P, 1, ...) for n=0.

    ``expression``: cells x genes raw non-negative counts (array or DataFrame with gene names as
    columns); ``pairs``: (P, 2) column indices or gene-name tuples. ``neighbor_score`` is computed
    on ``expression`` as given; ``transform="none"`` bins the values without eq. 1 (negative
    values allowed). A constant gene falls in the middle bin (numpy's rule), so its images are
    defined. ``neighbor_values``: what neighbors are ranked on (:class:`PairImageBuilder`). The
    in-RAM convenience over :class:`PairImageBuilder`, which streams.
    """
    check_integer("batch_size", batch_size, 1)
    builder = PairImageBuilder(expression, n_neighbors, n_bins, neighbor_score, transform, neighbor_values)
    resolved = builder.resolve_pairs(pairs)
    out = np.empty((len(resolved), builder.n_channels, builder.n_bins, builder.n_bins), dtype=np.float32)
    for start in range(0, len(resolved), batch_size):
        builder.build(resolved[start : start + batch_size], out=out[start : start + batch_size])
    return out


class TargetImages:
    """A :class:`PairImageBuilder` seen through :meth:`~PairImageBuilder.target_rows`: what
    :class:`deepdrim.training.PairScorer` reads (``rows``, ``images``) for a target-only model."""

    def __init__(self, builder: PairImageBuilder):
        self.builder = builder

    def rows(self, pairs) -> np.ndarray:
        return self.builder.target_rows(pairs)

    @property
    def images(self) -> np.ndarray:
        return self.builder.images


__all__: Sequence[str] = [
    "log_expression",
    "transform_expression",
    "neighbor_scores",
    "top_positive_neighbors",
    "PairImageBuilder",
    "TargetImages",
    "pair_images",
]
