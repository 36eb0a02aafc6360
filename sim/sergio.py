"""SERGIO (Dibaeinia & Sinha 2020, PyPI ``sergio-scsim`` 1.9.3, its v2 API) as a second simulator.

SERGIO simulates each gene's concentration with a chemical Langevin equation whose production
rate is a sum of Hill terms of its regulators' concentrations (activation k > 0, repression
k < 0); master regulators (genes with no regulator) have fixed production rates per cell type
(an ``mrProfile``: each master regulator low or high in each type), so several cell types come
from one GRN. Cells are draws from each type's steady-state trajectory. Splat-like technical
noise follows (SERGIO's ``splatModel``): outlier genes, library size, dropout, UMI counts.

The GRN (``grn``) is one of

* ``"own"`` - the suite's own random GRN, the same network :func:`sim.grn.simulate_grn` draws
  with the same seed and network parameters (TF cascades, targets, unregulated confounders,
  activation/repression signs), so one network can be simulated by both simulators;
* ``"ecoli"`` / ``"human"`` - a sub-network sampled from SERGIO's bundled networks (EcoliNet v1,
  a human regulatory network): ``n_tfs`` regulators grown from one seed regulator through
  regulator-regulator links, then ``n_genes`` genes among their targets, every edge of the
  bundled network from a chosen regulator to a chosen gene, made acyclic by a greedy
  feedback-arc-set order (Eades, Lin & Smyth 1993) instead of SERGIO's whole-network cycle
  removal (41 s on E. coli). SERGIO's own readers open ``SERGIO/GRN/ref/...`` relative to the
  working directory (and ``grn_from_human`` cannot parse the bundled ``human.node``: pandas
  ParserError at line 21195), so the files are read here by absolute path from the package.

SERGIO draws from numpy's global generator: it is seeded here and restored afterwards, so a
call neither depends on nor disturbs anyone else's ``np.random`` state. Results can be cached
on disk (``cache_dir``), keyed by every parameter, the seed and the package version.
The networks are built in :mod:`sim.sergio_networks`, the simulation runs in :mod:`sim.sergio_engine`.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from deepdrim._validation import check_choice, check_flag, check_integer, check_real, check_sizes
from deepdrim.data import Dataset, with_pairs
from deepdrim.files import atomic_write
from sim.grn import IN_DEGREE_MODELS, GeneCounts
from sim.sergio_engine import run_sergio, technical_noise
from sim.sergio_networks import own_network, sample_bundled

logger = logging.getLogger(__name__)

NETWORKS = ("own", "ecoli", "human")
ENGINES = ("vectorized", "sergio")
RandomState = Union[None, int, np.random.Generator]
_CACHE_FORMAT = 1  # bump when the computation changes so old cache files are not reused
_MAX_TRAJECTORY = 2 * 10**8  # genes x cells x scale_iter floats SERGIO keeps in memory (~1.6 GB)
_ARRAYS = ("counts", "gene_names", "tfs", "edges", "signs", "cell_type")


@dataclass
class SergioDataset(GeneCounts):
    """Counts (cells x genes), gene names, TF names (genes with a target), true edges (regulator
    index, target index) with signs (+1 activation, -1 repression), each cell's type, and the
    parameters that made it."""

    cell_type: np.ndarray
    params: dict = field(default_factory=dict)


def sergio_version() -> str:
    from importlib.metadata import version

    return version("sergio-scSim")


# ---------------------------------------------------------------------------------------------- checks


def _range(name: str, value) -> tuple[float, float]:
    items = list(value) if isinstance(value, (list, tuple)) or type(value).__name__ == "ListConfig" else None
    if (items is None or len(items) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in items)
            or not 0 < items[0] <= items[1] or not np.isfinite(items[1])):
        raise ValueError(f"{name} must be [low, high] with 0 < low <= high, got {value!r}")
    return float(items[0]), float(items[1])


#: each parameter's rule, check(name, value) -> the value made plain: simulate_sergio's checks, and run.py's
#: of the ``data=sergio`` keys (experiments.config.checks); the rules joining two parameters are in _check
PARAMETERS = {
    "grn": partial(check_choice, options=NETWORKS), "engine": partial(check_choice, options=ENGINES),
    "in_degree": partial(check_choice, options=IN_DEGREE_MODELS),
    **{name: partial(check_integer, minimum=low) for name, low in (
        ("n_genes", 3), ("n_cells", 2), ("n_cell_types", 1), ("n_tfs", 1), ("n_master", 1), ("safety_iter", 0),
        ("scale_iter", 1))},
    **{name: partial(check_real, low=0, high=1) for name in ("repression_fraction", "confounder_fraction",
                                                                  "outlier_prob")},
    **{name: partial(check_real, low=0, low_open=True) for name in ("hill_n", "decay", "dt", "dropout_shape")},
    **{name: partial(check_real, low=0) for name in ("noise_s", "outlier_scale", "library_scale")},
    "outlier_mean": check_real, "library_mean": partial(check_real, nullable=True),
    "dropout_percentile": partial(check_real, low=0, high=100, nullable=True), "umi": check_flag,
    **{name: lambda n, v: list(_range(n, v)) for name in ("k_range", "mr_low", "mr_high")},
    "regulators_per_gene": partial(check_sizes, minimum=1),
}


def _seed(random_state: RandomState) -> int:
    """An int seed in [0, 2**32): ints pass through, a Generator or None gives one drawn int."""
    if random_state is None:
        return int(np.random.default_rng().integers(2**32))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**32))
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool) and 0 <= random_state < 2**32:
        return int(random_state)
    raise ValueError(f"random_state must be None, an int in [0, 2**32) or a numpy Generator, got {random_state!r}")


# ---------------------------------------------------------------------------------------------- cache


def _cache_path(cache_dir, params: dict, seed: int) -> Path:
    header = {"params": params, "seed": seed, "sergio": sergio_version(), "format": _CACHE_FORMAT}
    digest = hashlib.sha256(json.dumps(header, sort_keys=True).encode()).hexdigest()
    return Path(cache_dir) / f"sergio-{digest}.npz"


def _read_cache(path: Path, params: dict) -> Optional[SergioDataset]:
    """The cached dataset, or None when the file is missing, unreadable or inconsistent."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            arrays = {name: saved[name] for name in _ARRAYS}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as err:
        logger.warning("SERGIO cache unreadable (%s), recomputing: %s", err, path)
        return None
    counts, genes = arrays["counts"], [str(g) for g in arrays["gene_names"]]
    edges = arrays["edges"]
    ok = (counts.shape == (params["n_cells"], params["n_genes"]) and len(genes) == params["n_genes"]
          and np.isfinite(counts).all() and edges.ndim == 2 and edges.shape[1] == 2
          and len(arrays["signs"]) == len(edges) and len(arrays["cell_type"]) == params["n_cells"]
          and (len(edges) == 0 or (edges.min() >= 0 and edges.max() < len(genes))))
    if not ok:
        logger.warning("SERGIO cache file inconsistent with its parameters, recomputing: %s", path)
        return None
    logger.info("SERGIO cache hit: %s", path)
    return SergioDataset(counts.astype(np.float64), genes, [str(t) for t in arrays["tfs"]], edges.astype(np.int64),
                         arrays["signs"].astype(np.int64), arrays["cell_type"].astype(np.int64), dict(params))


def _write_cache(path: Path, data: SergioDataset) -> None:
    """The simulation as one ``.npz`` file, written atomically (:func:`deepdrim.files.atomic_write`)."""
    atomic_write(path, lambda tmp: np.savez(
        tmp, counts=data.counts, gene_names=np.asarray(data.gene_names, dtype=str),
        tfs=np.asarray(data.tfs, dtype=str), edges=data.edges, signs=data.signs, cell_type=data.cell_type))


# ---------------------------------------------------------------------------------------------- API


def _check(p: dict) -> dict:
    """Validated, JSON-plain parameters (one-line ValueError naming the first bad one)."""
    for name, rule in PARAMETERS.items():
        p[name] = rule(name, p[name])
    if p["n_tfs"] >= p["n_genes"]:
        raise ValueError(f"n_tfs ({p['n_tfs']}) must be < n_genes ({p['n_genes']})")
    if p["n_cells"] < p["n_cell_types"]:
        raise ValueError(f"n_cells ({p['n_cells']}) must be at least n_cell_types ({p['n_cell_types']})")
    rpg = p["regulators_per_gene"]
    if len(rpg) != 2 or not rpg[0] <= rpg[1] <= p["n_tfs"]:
        raise ValueError(f"regulators_per_gene must be [low, high] with 1 <= low <= high <= n_tfs, got {list(rpg)}")
    p["regulators_per_gene"] = list(rpg)
    if p["grn"] == "own" and p["n_master"] >= p["n_tfs"]:
        raise ValueError(f"n_master ({p['n_master']}) must be < n_tfs ({p['n_tfs']})")
    size = p["n_genes"] * (p["n_cells"] * p["scale_iter"] + p["safety_iter"] * p["n_cell_types"])
    if size > _MAX_TRAJECTORY:
        raise ValueError(f"n_genes x n_cells x scale_iter = {size:.2g} concentrations exceed what SERGIO keeps "
                         f"in memory here ({_MAX_TRAJECTORY:.0e}); use fewer genes, cells or scale_iter")
    return p


def simulate_sergio(
    n_genes: int = 200,
    n_cells: int = 1500,
    n_cell_types: int = 3,
    grn: str = "own",
    n_tfs: int = 20,
    n_master: int = 3,
    regulators_per_gene: Sequence[int] = (1, 3),
    repression_fraction: float = 0.25,
    confounder_fraction: float = 0.15,
    in_degree: str = "uniform",
    k_range: Sequence[float] = (1.0, 5.0),
    hill_n: float = 2.0,
    decay: float = 0.8,
    mr_low: Sequence[float] = (1.0, 2.5),
    mr_high: Sequence[float] = (3.5, 5.0),
    noise_s: float = 1.0,
    safety_iter: int = 150,
    scale_iter: int = 10,
    dt: float = 0.01,
    outlier_prob: float = 0.01,
    outlier_mean: float = 0.8,
    outlier_scale: float = 1.0,
    library_mean: Optional[float] = 4.6,
    library_scale: float = 0.4,
    dropout_shape: float = 6.5,
    dropout_percentile: Optional[float] = 82.0,
    umi: bool = True,
    engine: str = "vectorized",
    random_state: RandomState = None,
    cache_dir: Union[None, str, os.PathLike] = None,
) -> SergioDataset:
    """Simulate ``n_cells`` cells (split evenly over ``n_cell_types`` types) of ``n_genes`` genes
    with SERGIO on a GRN (``grn``: own | ecoli | human, see the module docstring).

    Network: ``n_tfs`` regulators; for ``own`` also ``n_master``, ``regulators_per_gene``,
    ``confounder_fraction`` and ``in_degree`` as in :func:`sim.grn.simulate_grn`;
    ``repression_fraction`` of edges repress (SERGIO's own default 0.25). SERGIO's kinetics:
    |k| uniform in ``k_range``, Hill coefficient ``hill_n``, ``decay``; master regulators' production
    per cell type uniform in ``mr_low`` or ``mr_high`` (chosen at random per type); intrinsic noise
    ``noise_s``; ``safety_iter`` burn-in steps, ``scale_iter`` steps per cell, step ``dt``.
    Technical noise (each stage off as noted): outlier genes with probability ``outlier_prob``
    (0 = off) scaled by LogNormal(``outlier_mean``, ``outlier_scale``); library size
    LogNormal(``library_mean``, ``library_scale``) (null = off); dropout logistic in log
    expression with ``dropout_shape`` around the ``dropout_percentile`` (null = off); Poisson UMI
    counts when ``umi``. Defaults: SERGIO's own examples (README / its paper's datasets).

    ``random_state`` seeds everything (an int gives reusable cache keys); numpy's global
    generator, which SERGIO uses, is restored afterwards. With ``cache_dir`` the result is read
    from / written atomically to ``<cache_dir>/sergio-<sha256>.npz``.
    """
    params = _check({k: v for k, v in locals().items() if k not in ("random_state", "cache_dir")})
    seed = _seed(random_state)
    path = None
    if cache_dir is not None:
        path = _cache_path(cache_dir, params, seed)
        cached = _read_cache(path, params)
        if cached is not None:
            return cached
        logger.info("SERGIO cache miss: %s", path)
    rng = np.random.default_rng(seed)
    dropped = 0
    if params["grn"] == "own":
        names, edges, signs = own_network(params, seed)
    else:
        names, edges, signs, dropped = sample_bundled(params["grn"], params["n_genes"], params["n_tfs"],
                                                      params["repression_fraction"], rng)
    k_types = params["n_cell_types"]
    cells_per_type = [params["n_cells"] // k_types + (1 if i < params["n_cells"] % k_types else 0)
                      for i in range(k_types)]
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        clean, cell_type = run_sergio(names, edges, signs, params, rng, cells_per_type)
        counts = technical_noise(clean, params).T
    finally:
        np.random.set_state(state)
    tfs = [names[i] for i in sorted(set(edges[:, 0].tolist()))]
    logger.info("SERGIO grn=%s: %d genes, %d regulators, %d edges (%d dropped to break cycles), "
                "%d cells in %d types, %.0f%% zeros", params["grn"], len(names), len(tfs), len(edges),
                dropped, len(counts), k_types, 100 * float((counts == 0).mean()))
    data = SergioDataset(counts, names, tfs, edges, signs, cell_type, params)
    if path is not None:
        _write_cache(path, data)
    return data


def sergio_dataset(*, negatives: str = "balanced", cache: Union[None, str, os.PathLike] = None, random_state: int = 0,
                   **params) -> Dataset:
    """:func:`simulate_sergio` (``params``, cached under ``cache``) as the library's data object with
    labelled pairs, built as :func:`sim.grn.grn_dataset`'s: the target of ``conf/data/sergio.yaml``."""
    simulation = simulate_sergio(**params, random_state=random_state, cache_dir=cache)
    data = simulation.to_dataset(f"sim.sergio grn={simulation.params['grn']} seed={random_state}")
    return with_pairs(data, negatives, seed=random_state)
