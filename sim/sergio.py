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
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import pandas as pd

from sim.cache import write_atomic
from sim.grn import IN_DEGREE_MODELS, GeneCounts

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


def _ref_dir() -> Path:
    """SERGIO's bundled network folder, by absolute path (never relative to the cwd)."""
    import SERGIO

    return Path(SERGIO.__file__).resolve().parent / "GRN" / "ref"


# ---------------------------------------------------------------------------------------------- checks


def _int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _num(name: str, value, low: float = 0.0, high: Optional[float] = None, low_open: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating)) and np.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and (high is None or value <= high)
    if not ok:
        bound = f"{'>' if low_open else '>='} {low}" + ("" if high is None else f" and <= {high}")
        raise ValueError(f"{name} must be a number {bound}, got {value!r}")
    return float(value)


def _range(name: str, value) -> tuple[float, float]:
    items = list(value) if isinstance(value, (list, tuple)) or type(value).__name__ == "ListConfig" else None
    if (items is None or len(items) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in items)
            or not 0 < items[0] <= items[1] or not np.isfinite(items[1])):
        raise ValueError(f"{name} must be [low, high] with 0 < low <= high, got {value!r}")
    return float(items[0]), float(items[1])


def _seed(random_state: RandomState) -> int:
    """An int seed in [0, 2**32): ints pass through, a Generator or None gives one drawn int."""
    if random_state is None:
        return int(np.random.default_rng().integers(2**32))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**32))
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool) and 0 <= random_state < 2**32:
        return int(random_state)
    raise ValueError(f"random_state must be None, an int in [0, 2**32) or a numpy Generator, got {random_state!r}")


# ---------------------------------------------------------------------------------------------- networks


def _own_network(p: dict, seed: int) -> tuple[list, np.ndarray, np.ndarray]:
    """The network :func:`sim.grn.simulate_grn` draws for this seed (it is drawn before any cell,
    so 2 cells give the same network as the full simulation)."""
    from sim.grn import simulate_grn

    net = simulate_grn(n_tfs=p["n_tfs"], n_genes=p["n_genes"], n_cells=2, n_master=p["n_master"],
                       regulators_per_gene=tuple(p["regulators_per_gene"]),
                       repression_fraction=p["repression_fraction"], confounder_fraction=p["confounder_fraction"],
                       in_degree=p["in_degree"], random_state=seed)
    return list(net.gene_names), np.asarray(net.edges, dtype=np.int64), np.asarray(net.signs, dtype=np.int64)


_BUNDLED: dict = {}


def bundled_edges(network: str) -> pd.DataFrame:
    """The bundled network's distinct directed edges (``reg``, ``tar``: gene names), self-loops
    removed; human microRNAs left out as SERGIO's ``grn_from_human`` does. Read once per process."""
    if network not in _BUNDLED:
        ref = _ref_dir()
        if network == "ecoli":
            table = pd.read_csv(ref / "EcoliNet.v1.txt", sep="\t", header=None, names=["reg", "tar", "score"],
                                usecols=[0, 1], dtype=str)
        elif network == "human":
            table = pd.read_csv(ref / "human.source", sep="\t", header=None, dtype=str,
                                names=["reg", "reg_id", "tar", "tar_id"], usecols=[0, 2])
            mirna = table["reg"].str.contains("miR|hsa", regex=True) | table["tar"].str.contains("miR|hsa", regex=True)
            table = table[~mirna]
        else:
            raise ValueError(f"no bundled network {network!r}; bundled: ecoli, human")
        table = table.dropna()
        table = table[table["reg"] != table["tar"]].drop_duplicates(ignore_index=True)
        _BUNDLED[network] = table[["reg", "tar"]]
    return _BUNDLED[network]


def _network_index(network: str) -> tuple[dict, list, dict, list]:
    """Per bundled network, once per process: each regulator's sorted targets, the regulators,
    regulator-regulator links (either direction, for growing a connected regulator set), all genes."""
    key = ("index", network)
    if key not in _BUNDLED:
        table = bundled_edges(network)
        targets = {r: sorted(set(t)) for r, t in table.groupby("reg", sort=True)["tar"]}
        rr = table[table["tar"].isin(set(targets))]
        links: dict = {}
        for a, b in zip(rr["reg"], rr["tar"]):
            links.setdefault(a, set()).add(b)
            links.setdefault(b, set()).add(a)
        _BUNDLED[key] = (targets, sorted(targets), links, sorted(set(table["reg"]) | set(table["tar"])))
    return _BUNDLED[key]


def _acyclic_order(nodes: list, edges: list[tuple[str, str]], rng: np.random.Generator) -> dict:
    """Positions of ``nodes`` in a greedy feedback-arc-set order (Eades, Lin & Smyth): keeping
    only edges that go forward in it leaves a DAG that drops few edges. Ties are broken by a
    seeded shuffle."""
    order = list(rng.permutation(len(nodes)))
    names = [nodes[i] for i in order]
    out = {n: set() for n in names}
    inn = {n: set() for n in names}
    for a, b in edges:
        out[a].add(b)
        inn[b].add(a)
    left, head, tail = set(names), [], []
    while left:
        changed = True
        while changed:
            changed = False
            for n in [n for n in names if n in left and not (out[n] & left)]:  # sinks go last
                tail.append(n)
                left.discard(n)
                changed = True
            for n in [n for n in names if n in left and not (inn[n] & left)]:  # sources go first
                head.append(n)
                left.discard(n)
                changed = True
        if left:
            best = max((n for n in names if n in left), key=lambda n: len(out[n] & left) - len(inn[n] & left))
            head.append(best)
            left.discard(best)
    return {n: i for i, n in enumerate(head + tail[::-1])}


def sample_bundled(network: str, n_genes: int, n_tfs: int, repression_fraction: float,
                   rng: np.random.Generator) -> tuple[list, np.ndarray, np.ndarray, int]:
    """A sub-network of a bundled network: ``n_tfs`` regulators grown (breadth first, over
    regulator-regulator links in either direction) from a random seed regulator, then one target
    of each regulator and the rest drawn uniformly among their targets up to ``n_genes`` in all,
    the bundled edges from a chosen regulator to a chosen gene, made acyclic
    (:func:`_acyclic_order`). Returns gene names (the
    regulators first, in DAG order), edges (index pairs), signs (-1 with probability
    ``repression_fraction``: the bundled networks carry no sign) and how many edges were dropped
    to break cycles."""
    targets, regulators, links, all_genes = _network_index(network)
    if n_tfs > len(regulators):
        raise ValueError(f"grn={network} has {len(regulators)} regulators; n_tfs={n_tfs} is too many")
    if n_genes > len(all_genes):
        raise ValueError(f"grn={network} has {len(all_genes)} genes; n_genes={n_genes} is too many")
    chosen: list = []
    chosen_set: set = set()
    queue: list = []
    while len(chosen) < n_tfs:
        if not queue:
            pool = [r for r in regulators if r not in chosen_set]
            queue.append(pool[int(rng.integers(len(pool)))])
        node = queue.pop(0)
        if node in chosen_set:
            continue
        chosen.append(node)
        chosen_set.add(node)
        nxt = sorted(links.get(node, set()) - chosen_set)
        queue.extend(nxt[i] for i in rng.permutation(len(nxt)))
    pool = sorted({t for r in chosen for t in targets[r]} - chosen_set)
    n_targets = n_genes - len(chosen)
    if len(pool) < n_targets:
        # too few targets: fill with genes of the network outside the regulators' reach (unregulated)
        others = sorted(set(all_genes) - chosen_set - set(pool))
        extra = [others[i] for i in rng.choice(len(others), size=n_targets - len(pool), replace=False)]
        picked = pool + extra
    else:
        # one own target per regulator first (so each keeps at least one, hubs do not take all),
        # then the rest uniformly among all their targets
        picked_set: set = set()
        for r in chosen:
            own = sorted(set(targets[r]) - chosen_set)
            if own and not picked_set.intersection(own) and len(picked_set) < n_targets:
                picked_set.add(own[int(rng.integers(len(own)))])
        rest = [g for g in pool if g not in picked_set]
        fill = rng.choice(len(rest), size=n_targets - len(picked_set), replace=False)
        picked = sorted(picked_set | {rest[i] for i in fill})
    genes = set(chosen) | set(picked)
    raw = [(r, t) for r in chosen for t in targets[r] if t in genes]
    position = _acyclic_order(chosen, [(a, b) for a, b in raw if b in chosen_set], rng)
    kept = [(a, b) for a, b in raw if b not in chosen_set or position[a] < position[b]]
    names = sorted(chosen, key=position.get) + sorted(picked)
    index = {g: i for i, g in enumerate(names)}
    edges = np.array([(index[a], index[b]) for a, b in kept], dtype=np.int64).reshape(-1, 2)
    edges = edges[np.lexsort((edges[:, 1], edges[:, 0]))]
    signs = np.where(rng.random(len(edges)) < repression_fraction, -1, 1).astype(np.int64)
    return names, edges, signs, len(raw) - len(kept)


# ---------------------------------------------------------------------------------------------- SERGIO


def _run_sergio(names: list, edges: np.ndarray, signs: np.ndarray, p: dict, rng: np.random.Generator,
                cells_per_type: list) -> tuple[np.ndarray, np.ndarray]:
    """SERGIO's v2 simulation of the network (np.random already seeded by the caller): clean
    expression (genes x cells) and each cell's type."""
    from SERGIO import sergio
    from SERGIO.GRN import GRN, Gene, SingleInteraction
    from SERGIO.MR import mrProfile

    k = rng.uniform(*p["k_range"], size=len(edges)) * signs
    grn = GRN()
    for (a, b), k_ab in zip(edges, k):
        grn.add_interaction(SingleInteraction(reg=[Gene(name=names[a], decay=p["decay"])],
                                              tar=Gene(name=names[b], decay=p["decay"]),
                                              k=float(k_ab), h=None, n=float(p["hill_n"])))
    for name in names:  # genes with no edge at all: unregulated, so master regulators
        grn._add_gene(Gene(name=name, decay=p["decay"]))
    grn.setMRs()
    # sorted: get_mrs() is a set, whose order (and so the profile's draws) varies between processes
    profile = mrProfile(MR_names=sorted(grn.get_mrs()), n_types=p["n_cell_types"])
    profile.build_rnd(range_dict={"L": list(p["mr_low"]), "H": list(p["mr_high"])})
    grn.init(profile, update_half_resp=True)
    simulator = sergio(grn)
    if p["engine"] == "sergio":
        simulator.simulate(nCells=cells_per_type, noise_s=p["noise_s"], safety_iter=p["safety_iter"],
                           scale_iter=p["scale_iter"], dt=p["dt"])
        expr = simulator.getSimExpr()  # genes x cells, cells grouped by type
    else:
        expr = _simulate_vectorized(simulator, np.asarray(cells_per_type), p)
    clean = expr.loc[names].to_numpy(dtype=np.float64)
    cell_type = np.repeat(np.arange(p["n_cell_types"]), cells_per_type)
    return clean, cell_type


def _simulate_vectorized(simulator, n_cells: np.ndarray, p: dict) -> pd.DataFrame:
    """``simulator.simulate(...)`` then ``getSimExpr()`` of SERGIO 1.9.3 (``sergio._simulate_ss``,
    ``_iter_ss``, ``_get_rnd_scInd``) with the genes' loop done as array operations: the same
    equations, the same draws from np.random in the same order and shapes, on the same SERGIO
    objects (kinetics, half responses and steady states from ``GRN.init``). SERGIO's own loop
    calls Python per gene, interaction and step; this is ~100x faster and equal to it to
    floating-point rounding (tests/test_sergio.py compares the two)."""
    from SERGIO.GRN._components import SingleInteraction

    grn, names = simulator.grn_, simulator.gNames_
    genes = [grn.attr_["genes"][g] for g in names]
    row = {g: i for i, g in enumerate(names)}
    n_types, n_genes = int(grn.nCellTypes_), len(names)
    is_mr = np.array([g.isMR_ for g in genes])
    prod_mr = np.zeros((n_genes, n_types))
    for i, g in enumerate(genes):
        if g.isMR_:
            prod_mr[i] = np.asarray(g.prod_rates_, dtype=np.float64)
    # interactions by slot (the j-th incoming interaction of each gene, in SERGIO's dict order), so
    # P is summed in SERGIO's order; absent slots add an exact 0.0
    slots = max((len(g.inInteractions) for g in genes if not g.isMR_), default=0)
    reg = np.zeros((slots, n_genes), dtype=np.int64)
    k = np.zeros((slots, n_genes))
    n = np.ones((slots, n_genes))
    h = np.ones((slots, n_genes))
    present = np.zeros((slots, n_genes), dtype=bool)
    for i, g in enumerate(genes):
        if g.isMR_:
            continue
        for j, inter in enumerate(g.inInteractions.values()):
            if not isinstance(inter, SingleInteraction) or len(inter.reg_) != 1:
                raise ValueError("cooperative interactions are not supported by SERGIO 1.9.3")
            reg[j, i], k[j, i], n[j, i], h[j, i] = row[inter.reg_[0].name_], inter.k_, inter.n_, inter.h_
            present[j, i] = True
    h_n = np.power(h, n)
    lam = simulator.lambda_  # (genes, 1)
    req = n_cells * int(p["scale_iter"])
    safety = int(p["safety_iter"])
    noise_s, dt = p["noise_s"], p["dt"]
    traj = np.zeros((n_genes, n_types, 1 + safety + int(req.max())))
    traj[:, :, 0] = np.maximum(0, np.stack([np.asarray(g.ss_conc_, dtype=np.float64) for g in genes]))
    last = np.zeros(n_types, dtype=np.int64)  # index of each type's last concentration

    def step(types: np.ndarray) -> None:
        X = traj[:, types, last[types]]
        P = np.zeros_like(X)
        for j in range(slots):
            xr = X[reg[j]]
            xn = np.power(xr, n[j][:, None])
            hill = xn / (xn + h_n[j][:, None])
            kj = k[j][:, None]
            term = np.where(kj > 0, kj * hill, np.abs(kj) * (1 - hill))
            P = P + np.where(present[j][:, None], term, 0.0)
        P[is_mr] = prod_mr[is_mr][:, types]
        P[P < 0] = 0
        D = lam * X
        rndP = np.random.normal(size=(n_genes, len(types)))
        rndD = np.random.normal(size=(n_genes, len(types)))
        newX = X + (P - D) * dt + (np.multiply(np.sqrt(P), rndP)
                                   + np.multiply(np.sqrt(D), rndD)) * noise_s * np.sqrt(dt)  # SERGIO's order
        last[types] += 1
        traj[:, types, last[types]] = np.maximum(0, newX)

    every = np.arange(n_types)
    for _ in range(safety):
        step(every)
    types, n_iter = every, 0
    while len(types):
        step(types)
        n_iter += 1
        types = np.where(req > n_iter)[0]
    columns, cells = [], []
    for ct in range(n_types):  # SERGIO's _get_rnd_scInd, then getSimExpr's layout
        index = safety + np.random.randint(low=0, high=n_cells[ct] * p["scale_iter"], size=n_cells[ct])
        columns.append(traj[:, ct, index])
        cells += [f"type_{ct}_cell_{i}" for i in range(n_cells[ct])]
    return pd.DataFrame(np.concatenate(columns, axis=1), index=names, columns=cells)


def _technical_noise(clean: np.ndarray, p: dict) -> np.ndarray:
    """SERGIO's Splat-like noise on genes x cells, each stage optional: outlier genes, library
    size, dropout, UMI counts (np.random already seeded)."""
    from SERGIO.Noise._noise import splatModel

    model = splatModel()
    x = clean.copy()
    if p["outlier_prob"] > 0:
        x = model.outlier_effect(x, outlier_prob=p["outlier_prob"], mean=p["outlier_mean"], scale=p["outlier_scale"])
    if p["library_mean"] is not None:
        x = np.nan_to_num(model.lib_size_effect(x, mean=p["library_mean"], scale=p["library_scale"]))
    if p["dropout_percentile"] is not None:
        x = x * model.dropout_indicator(x, shape=p["dropout_shape"], percentile=p["dropout_percentile"])
    if p["umi"]:
        x = model.convert_to_UMIcounts(x)
    return np.asarray(x, dtype=np.float64)


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
    """The simulation as one ``.npz`` file, written atomically (:func:`sim.cache.write_atomic`)."""
    write_atomic(path, lambda handle: np.savez(
        handle, counts=data.counts, gene_names=np.asarray(data.gene_names, dtype=str),
        tfs=np.asarray(data.tfs, dtype=str), edges=data.edges, signs=data.signs, cell_type=data.cell_type),
        prefix=".sergio-")


# ---------------------------------------------------------------------------------------------- API


def _check(p: dict) -> dict:
    """Validated, JSON-plain parameters (one-line ValueError naming the first bad one)."""
    if p["grn"] not in NETWORKS:
        raise ValueError(f"grn must be one of {', '.join(NETWORKS)}, got {p['grn']!r}")
    if p["engine"] not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {p['engine']!r}")
    if p["in_degree"] not in IN_DEGREE_MODELS:
        raise ValueError(f"in_degree must be one of {', '.join(IN_DEGREE_MODELS)}, got {p['in_degree']!r}")
    for name, low in (("n_genes", 3), ("n_cells", 2), ("n_cell_types", 1), ("n_tfs", 1), ("n_master", 1),
                      ("safety_iter", 0), ("scale_iter", 1)):
        p[name] = _int(name, p[name], low)
    if p["n_tfs"] >= p["n_genes"]:
        raise ValueError(f"n_tfs ({p['n_tfs']}) must be < n_genes ({p['n_genes']})")
    if p["n_cells"] < p["n_cell_types"]:
        raise ValueError(f"n_cells ({p['n_cells']}) must be at least n_cell_types ({p['n_cell_types']})")
    for name in ("repression_fraction", "confounder_fraction", "outlier_prob"):
        p[name] = _num(name, p[name], 0.0, 1.0)
    for name in ("hill_n", "decay", "dt", "dropout_shape"):
        p[name] = _num(name, p[name], 0.0, low_open=True)
    for name in ("noise_s", "outlier_scale", "library_scale"):
        p[name] = _num(name, p[name], 0.0)
    p["outlier_mean"] = _num("outlier_mean", p["outlier_mean"], -np.inf)
    if p["library_mean"] is not None:
        p["library_mean"] = _num("library_mean", p["library_mean"], -np.inf)
    if p["dropout_percentile"] is not None:
        p["dropout_percentile"] = _num("dropout_percentile", p["dropout_percentile"], 0.0, 100.0)
    if not isinstance(p["umi"], bool):
        raise ValueError(f"umi must be true or false, got {p['umi']!r}")
    for name in ("k_range", "mr_low", "mr_high"):
        p[name] = list(_range(name, p[name]))
    rpg = list(p["regulators_per_gene"]) if isinstance(p["regulators_per_gene"], (list, tuple)) or \
        type(p["regulators_per_gene"]).__name__ == "ListConfig" else None
    if rpg is None or len(rpg) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in rpg) \
            or not 1 <= rpg[0] <= rpg[1] <= p["n_tfs"]:
        raise ValueError(f"regulators_per_gene must be [low, high] with 1 <= low <= high <= n_tfs, "
                         f"got {p['regulators_per_gene']!r}")
    p["regulators_per_gene"] = [int(v) for v in rpg]
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
        names, edges, signs = _own_network(params, seed)
    else:
        names, edges, signs, dropped = sample_bundled(params["grn"], params["n_genes"], params["n_tfs"],
                                                      params["repression_fraction"], rng)
    k_types = params["n_cell_types"]
    cells_per_type = [params["n_cells"] // k_types + (1 if i < params["n_cells"] % k_types else 0)
                      for i in range(k_types)]
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        clean, cell_type = _run_sergio(names, edges, signs, params, rng, cells_per_type)
        counts = _technical_noise(clean, params).T
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


__all__ = ["SergioDataset", "simulate_sergio", "sample_bundled", "bundled_edges", "NETWORKS"]
