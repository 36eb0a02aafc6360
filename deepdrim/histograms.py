"""Joint histograms of binned genes, normalised by paper eq. 2: the numeric core of the images.

Every gene is binned once into uint8 codes exactly as ``numpy.histogram2d`` bins it; a batch of
images is then one ``np.bincount`` per chunk (the index array stays in cache) and eq. 2 a lookup.
Chunks are independent, so they run on a small thread pool (numpy releases the GIL in
``bincount`` and ``take``): the pixels are the same whatever the number of threads.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable

import numpy as np

from deepdrim._validation import check_integer

HIST_FLOOR = 1e-4  # paper eq. 2
_CHUNK_ELEMENTS = 1 << 16  # elements per vectorised block: temporaries stay in the L2 cache
_HISTOGRAM_CHUNK = 1 << 15  # image x cell entries per bincount
_MIN_PARALLEL_ELEMENTS = 1 << 17  # below this, a thread hand-off costs more than it saves


def default_threads() -> int:
    """Threads for image building: the CPUs this process may run on, at most 8 (memory-bound
    work stops scaling there). ``DEEPDRIM_IMAGE_THREADS`` overrides it (1 = no threads)."""
    setting = os.environ.get("DEEPDRIM_IMAGE_THREADS", "").strip()
    if setting:
        threads = int(setting) if setting.isdigit() else 0
        if threads < 1:
            raise ValueError(f"DEEPDRIM_IMAGE_THREADS must be a positive integer, got {setting!r}")
        return threads
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


_pool_lock = threading.Lock()
_pool: tuple[int, int, ThreadPoolExecutor] | None = None  # (process id, threads, pool)


def run_parts(function: Callable[[slice], None], n_items: int, n_elements: int) -> None:
    """Call ``function(part)`` on contiguous slices covering ``range(n_items)``: one slice per
    thread when the work (``n_elements`` values touched) is large enough, else one call."""
    global _pool
    threads = min(default_threads(), n_items, max(1, n_elements // _MIN_PARALLEL_ELEMENTS))
    if threads <= 1:
        function(slice(0, n_items))
        return
    with _pool_lock:  # a forked child inherits the pool object but not its threads: it makes its own
        if _pool is None or _pool[0] != os.getpid() or _pool[1] < threads:
            if _pool is not None and _pool[0] == os.getpid():  # a smaller pool of this process: let it go
                _pool[2].shutdown(wait=False)
            _pool = (os.getpid(), threads, ThreadPoolExecutor(threads, thread_name_prefix="deepdrim-images"))
        pool = _pool[2]
    bounds = np.linspace(0, n_items, threads + 1).astype(int)
    for future in [pool.submit(function, slice(lo, hi)) for lo, hi in zip(bounds[:-1], bounds[1:])]:
        future.result()


def bin_codes(values: np.ndarray, n_bins: int = 32) -> np.ndarray:
    """Per-gene bin index (cells x genes, uint8) exactly as ``numpy.histogram2d`` assigns it.

    Each gene's ``n_bins`` equal-width bins span its own min..max (edges from ``np.linspace``,
    a value on an inner edge goes right, the maximum goes to the last bin). A constant gene has
    numpy's range ``value -/+ 0.5`` and so falls in bin ``n_bins // 2`` for every cell. The
    result is the transpose of a C-contiguous genes x cells array (one row per gene, the layout
    the histograms read), so ``bin_codes(...).T`` costs no copy.
    """
    values = np.asarray(values)
    n_bins = check_integer("n_bins", n_bins, 1, 255)
    low = values.min(axis=0).astype(np.float64)
    high = values.max(axis=0).astype(np.float64)
    constant = low == high
    low = np.where(constant, low - 0.5, low)
    high = np.where(constant, high + 0.5, high)
    # numpy's edges are np.linspace(low, high, n_bins + 1) = k * step + low; the code of a value is
    # the number of inner edges <= value: a first guess from the bin width, then one exact
    # correction step against the edges, in blocks of genes so the temporaries stay small
    step = (high - low) / n_bins
    scale = (1.0 / step).astype(np.float32)
    n_cells, n_genes = values.shape
    codes = np.empty((n_genes, n_cells), dtype=np.uint8)  # genes x cells
    block = max(1, _CHUNK_ELEMENTS // max(n_cells, 1))

    def fill(genes: slice) -> None:
        for start in range(genes.start, genes.stop, block):
            cols = slice(start, min(start + block, genes.stop))
            part = np.ascontiguousarray(values[:, cols].T)  # genes x cells: rows are contiguous
            gene_low, gene_step = low[cols, None], step[cols, None]
            guess = part - gene_low.astype(np.float32)  # float32: only a guess
            guess *= scale[cols, None]
            np.clip(guess, 0, n_bins - 1, out=guess)
            code = np.floor(guess, dtype=np.float64)
            edge = code * gene_step
            edge += gene_low
            code -= part < edge
            np.add(code, 1, out=edge)
            edge *= gene_step
            edge += gene_low
            above = part >= edge
            above &= code < n_bins - 1
            code += above
            codes[cols] = code

    run_parts(fill, n_genes, n_genes * n_cells)
    return codes.T


def normalise_histogram(counts: np.ndarray, n_cells: int) -> np.ndarray:
    """Paper eq. 2 with sum(H) = number of cells: ``log10(H / n_cells + 1e-4) / 4 + 1``.

    An empty bin gives exactly 0, so an all-zero image is an image of no cells.
    """
    return (np.log10(counts / float(n_cells) + HIST_FLOOR) / 4.0 + 1.0).astype(np.float32)


def _histogram_chunks(codes: np.ndarray, genes_u: np.ndarray, genes_v: np.ndarray, n_bins: int,
                      gene_major: bool, part: slice = slice(None)) -> Iterable[tuple[int, int, np.ndarray]]:
    """Yield ``(start, stop, counts)``: raw joint-histogram counts (flat, int64) of consecutive
    chunks of the images ``part`` of the list, each one ``np.bincount`` over
    ``k * n_bins**2 + code_v * n_bins + code_u``."""
    genes_u = np.asarray(genes_u, dtype=np.intp)
    genes_v = np.asarray(genes_v, dtype=np.intp)
    rows = codes if gene_major else codes.T
    first, last, _ = part.indices(genes_u.shape[0])
    n_images, n_cells = max(last - first, 0), rows.shape[1]
    area = n_bins * n_bins
    chunk = max(1, _HISTOGRAM_CHUNK // max(n_cells, 1))
    dtype = np.int32 if min(chunk, n_images) * area < 2**31 else np.intp  # offsets restart per chunk
    offsets = (np.arange(min(chunk, n_images), dtype=dtype) * area)[:, None]
    pixel = np.empty((min(chunk, n_images), n_cells), dtype=dtype)
    for start in range(first, first + n_images, chunk):
        stop = min(first + n_images, start + chunk)
        block = pixel[: stop - start]
        np.multiply(rows[genes_v[start:stop]], n_bins, out=block, dtype=dtype)
        block += offsets[: stop - start]
        block += rows[genes_u[start:stop]]
        yield start, stop, np.bincount(block.ravel(), minlength=(stop - start) * area)


def histogram_images(codes: np.ndarray, genes_u: np.ndarray, genes_v: np.ndarray, n_bins: int = 32, *,
                     gene_major: bool = False) -> np.ndarray:
    """Raw joint-histogram counts (int64) of the gene pairs (u_k, v_k), shape (K, n_bins, n_bins), [v, u].

    ``codes`` is cells x genes from :func:`bin_codes` (or its transpose, genes x cells, with
    ``gene_major=True``: the fast layout, rows are copied whole). Images are counted in chunks,
    one ``np.bincount`` each, so the index array stays in cache; chunks run on threads.
    """
    hist = np.zeros((len(genes_u), n_bins * n_bins), dtype=np.int64)

    def fill(part: slice) -> None:
        for start, stop, counts in _histogram_chunks(codes, genes_u, genes_v, n_bins, gene_major, part):
            hist[start:stop] = counts.reshape(stop - start, -1)

    run_parts(fill, len(hist), len(hist) * codes.shape[0 if not gene_major else 1])
    return hist.reshape(-1, n_bins, n_bins)


def normalised_images(codes: np.ndarray, genes_u: np.ndarray, genes_v: np.ndarray, lut: np.ndarray,
                      out: np.ndarray, n_bins: int = 32) -> np.ndarray:
    """Eq.-2 images of the pairs (u_k, v_k) written into ``out`` (C-contiguous float32, K x n_bins x
    n_bins); ``codes`` is genes x cells, ``lut`` is :func:`histogram_lookup` of the cell count."""
    area = n_bins * n_bins
    flat = out.reshape(-1)

    def fill(part: slice) -> None:
        for start, stop, counts in _histogram_chunks(codes, genes_u, genes_v, n_bins, True, part):
            # counts <= n_cells < len(lut): mode="clip" only skips the bounds check
            np.take(lut, counts, out=flat[start * area : stop * area], mode="clip")

    run_parts(fill, len(genes_u), len(genes_u) * codes.shape[1])
    return out


def self_images(codes: np.ndarray, genes: np.ndarray, lut: np.ndarray, n_bins: int = 32) -> np.ndarray:
    """Images (g, g) from 1-D histograms: a gene against itself puts every cell on the diagonal,
    so the image is eq. 2 of its own bin counts there and 0 (an empty bin) elsewhere."""
    rows = codes[np.asarray(genes, dtype=np.intp)].astype(np.intp)
    rows += (np.arange(len(rows), dtype=np.intp) * n_bins)[:, None]
    counts = np.bincount(rows.ravel(), minlength=len(rows) * n_bins).reshape(len(rows), n_bins)
    out = np.zeros((len(rows), n_bins, n_bins), dtype=np.float32)
    diagonal = np.arange(n_bins)
    out[:, diagonal, diagonal] = lut[counts]
    return out


def histogram_lookup(n_cells: int) -> np.ndarray:
    """Eq. 2 for every possible bin count 0..n_cells (float32), so images are one gather."""
    return normalise_histogram(np.arange(n_cells + 1, dtype=np.float64), n_cells)
