"""A seeded scRNA-seq simulator driven by a known, directed gene regulatory network.

Cells lie along a branching trajectory (pseudotime t in [0, 1], two branches). A few master TFs
follow the trajectory; every other gene is set, in topological order, by Hill-function
activation or repression from its regulators (TF cascades a -> b -> c make transitive pairs),
combined with AND/OR logic, times log-normal cell-to-cell noise. Some genes follow the
trajectory with no regulator (confounders that correlate without an edge). Counts are
negative binomial around library size x mean; then, with ``dropout="logistic"`` (the default,
as Splatter), zero-inflated with a probability that falls only slowly with the mean (slope 0.3:
even the top tenth of genes by mean stays ~45% zero), or, with ``dropout="nb"``, left as the
negative binomial gives them: zeros then come from low means only and highly expressed genes are
rarely zero, as in droplet UMI data (Svensson 2020, "Droplet scRNA-seq is not zero-inflated").
``in_degree="uniform"`` (default) draws each target's regulator count uniformly from
``regulators_per_gene``; ``"skewed"`` draws it with P(k) proportional to 2**-(k - low), so most
targets have one regulator and few have many, as in curated GRNs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd

from deepdrim._validation import check_choice, check_integer, check_real, check_sizes
from deepdrim.data import Dataset, edge_table, with_pairs


DROPOUT_MODELS = ("logistic", "nb")
IN_DEGREE_MODELS = ("uniform", "skewed")
#: each parameter's rule, check(name, value): simulate_grn's checks, and run.py's of the ``data=sim`` keys
#: (experiments.config.checks); the rules joining two parameters are simulate_grn's own
PARAMETERS = {
    "n_tfs": partial(check_integer, minimum=2), "n_genes": partial(check_integer, minimum=3),
    "n_cells": partial(check_integer, minimum=2), "n_master": partial(check_integer, minimum=1),
    "regulators_per_gene": partial(check_sizes, minimum=1),
    "repression_fraction": partial(check_real, low=0, high=1), "confounder_fraction": partial(check_real, low=0, high=1),
    "noise_sd": partial(check_real, low=0), "mean_depth": partial(check_real, low=0, low_open=True),
    "library_sd": partial(check_real, low=0), "dispersion": partial(check_real, low=0, low_open=True),
    "dropout_midpoint": check_real, "dropout_slope": partial(check_real, low=0),
    "dropout": partial(check_choice, options=DROPOUT_MODELS), "in_degree": partial(check_choice, options=IN_DEGREE_MODELS),
}


@dataclass
class GeneCounts:
    """What every simulator returns: counts (cells x genes), gene names, TF names, true edges
    (TF index, target index) with signs (+1 activation, -1 repression)."""

    counts: np.ndarray
    gene_names: list
    tfs: list
    edges: np.ndarray
    signs: np.ndarray

    @property
    def expression(self) -> pd.DataFrame:
        """Counts as a DataFrame with gene names as columns."""
        return pd.DataFrame(self.counts, columns=self.gene_names)

    @property
    def edge_names(self) -> list[tuple[str, str]]:
        return [(self.gene_names[a], self.gene_names[b]) for a, b in self.edges]

    def to_dataset(self, source: str) -> Dataset:
        """The library's data object (:class:`deepdrim.data.Dataset`, no pairs yet) of these counts."""
        names = np.asarray(self.gene_names, dtype=object)
        edges = np.asarray(self.edges, dtype=np.int64).reshape(-1, 2)
        return Dataset(self.expression, edge_table(names[edges[:, 0]], names[edges[:, 1]], self.signs),
                       list(self.tfs), source)


@dataclass
class SimulatedDataset(GeneCounts):
    """:class:`GeneCounts` of :func:`simulate_grn`, with each cell's pseudotime and branch."""

    pseudotime: np.ndarray
    branch: np.ndarray
    params: dict = field(default_factory=dict)


def _hill(x: np.ndarray, k: np.ndarray, n: np.ndarray) -> np.ndarray:
    xn = np.power(x, n)
    return xn / (np.power(k, n) + xn)


def _trajectory_profile(rng: np.random.Generator, t: np.ndarray, branch: np.ndarray, n: int) -> np.ndarray:
    """``n`` smooth random activity profiles over the trajectory, values in (0, 1) (cells x n)."""
    centre = rng.uniform(0.1, 0.9, size=n)
    width = rng.uniform(0.1, 0.35, size=n)
    direction = rng.choice([-1.0, 1.0], size=n)
    branch_gain = rng.uniform(0.2, 1.0, size=(2, n))
    base = 1.0 / (1.0 + np.exp(-direction * (t[:, None] - centre) / width))
    late = t[:, None] > 0.5
    gain = np.where(late, branch_gain[branch], 1.0)
    return np.clip(base * gain, 1e-3, 1.0)


def simulate_grn(
    n_tfs: int = 24,
    n_genes: int = 250,
    n_cells: int = 1000,
    n_master: int = 3,
    regulators_per_gene: tuple = (1, 3),
    repression_fraction: float = 0.3,
    confounder_fraction: float = 0.15,
    noise_sd: float = 1.0,
    mean_depth: float = 300.0,
    library_sd: float = 0.35,
    dispersion: float = 0.5,
    dropout_midpoint: float = 5.0,
    dropout_slope: float = 0.3,
    dropout: str = "logistic",
    in_degree: str = "uniform",
    random_state=None,
) -> SimulatedDataset:
    """Simulate counts from a random GRN; see the module docstring for the generative model.

    TFs are genes ``0..n_tfs-1``; TFs after the first ``n_master`` are regulated by earlier
    TFs (cascades), every non-TF gene that is not a confounder by ``regulators_per_gene``
    TFs. ``dropout`` ("logistic" | "nb") and ``in_degree`` ("uniform" | "skewed"): see the
    module docstring; ``dropout_midpoint``/``dropout_slope`` apply to "logistic" only.
    """
    params = dict(locals())
    params.pop("random_state")
    for name, rule in PARAMETERS.items():
        rule(name, params[name])
    params["regulators_per_gene"] = regulators_per_gene = tuple(regulators_per_gene)  # a config's list too
    if n_master >= n_tfs:
        raise ValueError(f"need 1 <= n_master < n_tfs, got n_tfs={n_tfs}, n_master={n_master}")
    if n_genes <= n_tfs:
        raise ValueError(f"n_genes ({n_genes}) must exceed n_tfs ({n_tfs})")
    rng = np.random.default_rng(random_state)
    if len(regulators_per_gene) != 2 or not regulators_per_gene[0] <= regulators_per_gene[1] <= n_tfs:
        raise ValueError(f"regulators_per_gene must be (low, high) with 1 <= low <= high <= n_tfs, got {regulators_per_gene}")
    lo, hi = regulators_per_gene
    k_values = np.arange(lo, hi + 1)
    k_prob = 2.0 ** -(k_values - lo)
    k_prob /= k_prob.sum()

    # --- network: cascades among TFs, targets among all genes
    tf_weight = rng.dirichlet(np.full(n_tfs, 2.0))  # uneven out-degrees, as real TFs
    regulators: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * n_genes
    for g in range(n_master, n_tfs):
        k = int(rng.integers(1, 3))
        p = tf_weight[:g] / tf_weight[:g].sum()
        regulators[g] = rng.choice(g, size=min(k, g), replace=False, p=p)
    n_targets = n_genes - n_tfs
    confounder = rng.random(n_targets) < confounder_fraction
    for j, g in enumerate(range(n_tfs, n_genes)):
        if confounder[j]:
            continue
        k = int(rng.integers(lo, hi + 1)) if in_degree == "uniform" else int(rng.choice(k_values, p=k_prob))
        regulators[g] = rng.choice(n_tfs, size=k, replace=False, p=tf_weight)
    edges = np.array([(int(r), g) for g in range(n_genes) for r in regulators[g]], dtype=np.int64).reshape(-1, 2)
    signs = np.where(rng.random(len(edges)) < repression_fraction, -1, 1)

    # --- cells along a branching trajectory
    t = rng.random(n_cells)
    branch = (rng.random(n_cells) < 0.5).astype(np.int64)
    # intrinsic cell-to-cell noise enters each gene before its targets read it, so a target
    # follows its regulator's own fluctuations (direct) more tightly than a cascade's (transitive)
    noise = np.exp(rng.normal(0.0, noise_sd, size=(n_cells, n_genes)))
    level = np.zeros((n_cells, n_genes))
    level[:, :n_master] = _trajectory_profile(rng, t, branch, n_master) * noise[:, :n_master]
    conf_genes = np.flatnonzero(np.r_[np.zeros(n_tfs, bool), confounder])
    level[:, conf_genes] = _trajectory_profile(rng, t, branch, len(conf_genes)) * noise[:, conf_genes]
    edge_sign = {(int(a), int(b)): int(s) for (a, b), s in zip(edges, signs)}
    for g in range(n_genes):  # topological order: regulators always come first
        regs = regulators[g]
        if len(regs) == 0:
            continue
        x = level[:, regs]
        k = rng.uniform(0.2, 0.6, size=len(regs)) * x.mean(axis=0).clip(1e-3)
        n = rng.uniform(1.5, 4.0, size=len(regs))
        h = _hill(x, k * 2, n)
        s = np.array([edge_sign[(int(r), g)] for r in regs])
        h = np.where(s > 0, h, 1.0 - h)
        combined = h.prod(axis=1) if rng.random() < 0.4 else h.mean(axis=1)  # AND / OR logic
        level[:, g] = (0.02 + 0.98 * combined) * noise[:, g]

    # --- counts: library size x gene depth x level, negative binomial, then dropout
    gene_depth = mean_depth * np.exp(rng.normal(0.0, 0.8, size=n_genes))
    library = np.exp(rng.normal(0.0, library_sd, size=n_cells))
    mu = library[:, None] * gene_depth[None, :] * level
    lam = rng.gamma(shape=1.0 / dispersion, scale=mu * dispersion)
    counts = rng.poisson(lam)
    if dropout == "logistic":
        p_drop = 1.0 / (1.0 + np.exp(dropout_slope * (np.log(mu + 1e-9) - np.log(dropout_midpoint * mean_depth / 10))))
        counts[rng.random(counts.shape) < p_drop] = 0

    names = [f"TF{i:02d}" for i in range(n_tfs)] + [f"G{i:03d}" for i in range(n_tfs, n_genes)]
    return SimulatedDataset(counts.astype(np.float64), names, names[:n_tfs], edges, signs, t, branch, params)


def grn_dataset(*, negatives: str = "balanced", random_state: int = 0, **params) -> Dataset:
    """:func:`simulate_grn` (``params``, seeded by ``random_state``) as the library's data object with
    labelled pairs (:func:`deepdrim.data.with_pairs`): the target of ``conf/data/sim.yaml``."""
    data = simulate_grn(**params, random_state=random_state).to_dataset(f"sim.grn seed={random_state}")
    return with_pairs(data, negatives, seed=random_state)
