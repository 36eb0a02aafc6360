"""The GRNs SERGIO simulates: the suite's own random network (the one :func:`sim.grn.simulate_grn`
draws for a seed) or a sub-network sampled from SERGIO's bundled networks (E. coli, human), read by
absolute path from the installed package and made acyclic by a greedy feedback-arc-set order."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def _ref_dir() -> Path:
    """SERGIO's bundled network folder, by absolute path (never relative to the cwd)."""
    import SERGIO

    return Path(SERGIO.__file__).resolve().parent / "GRN" / "ref"




def own_network(p: dict, seed: int) -> tuple[list, np.ndarray, np.ndarray]:
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


def acyclic_order(nodes: list, edges: list[tuple[str, str]], rng: np.random.Generator) -> dict:
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
    (:func:`acyclic_order`). Returns gene names (the
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
    position = acyclic_order(chosen, [(a, b) for a, b in raw if b in chosen_set], rng)
    kept = [(a, b) for a, b in raw if b not in chosen_set or position[a] < position[b]]
    names = sorted(chosen, key=position.get) + sorted(picked)
    index = {g: i for i, g in enumerate(names)}
    edges = np.array([(index[a], index[b]) for a, b in kept], dtype=np.int64).reshape(-1, 2)
    edges = edges[np.lexsort((edges[:, 1], edges[:, 0]))]
    signs = np.where(rng.random(len(edges)) < repression_fraction, -1, 1).astype(np.int64)
    return names, edges, signs, len(raw) - len(kept)
