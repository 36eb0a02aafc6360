"""SERGIO's simulation of a network: its v2 API (``engine=sergio``) or the same equations and
random draws done as array operations (``engine=vectorized``, ~100x faster), then its Splat-like
technical noise. np.random must be seeded by the caller (:func:`sim.sergio.simulate_sergio`)."""
from __future__ import annotations

import numpy as np
import pandas as pd




def run_sergio(names: list, edges: np.ndarray, signs: np.ndarray, p: dict, rng: np.random.Generator,
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
        expr = simulate_vectorized(simulator, np.asarray(cells_per_type), p)
    clean = expr.loc[names].to_numpy(dtype=np.float64)
    cell_type = np.repeat(np.arange(p["n_cell_types"]), cells_per_type)
    return clean, cell_type


def simulate_vectorized(simulator, n_cells: np.ndarray, p: dict) -> pd.DataFrame:
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


def technical_noise(clean: np.ndarray, p: dict) -> np.ndarray:
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
