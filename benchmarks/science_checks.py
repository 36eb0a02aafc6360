"""Measurements behind docs/results/science-notes.md, on the embedded default simulation (no training).

``python benchmarks/science_checks.py zeros``      zero fraction vs gene mean, by decile of the mean
``python benchmarks/science_checks.py neighbors``  how related in the true GRN the chosen neighbors are
``python benchmarks/science_checks.py shortcut``   gene-prior and Pearson AUROC under split=tf vs strict
``python benchmarks/science_checks.py cv``         DeepDRIM (default job's model + training) under both splits
``python benchmarks/science_checks.py cv-matched`` the tf split with training cut to the strict split's size

``--sim KEY=VALUE`` (repeatable) passes simulator keywords, e.g. ``--sim dropout=nb``; ``--seeds``.
Every table is printed as Markdown.
"""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from deepdrim.baselines import gene_prior_cv, pcc
from deepdrim.cv import make_folds
from deepdrim.metrics import auroc
from deepdrim.neighbors import NEIGHBOR_VALUES, neighbor_lists, neighbor_relatedness
from deepdrim.pairs import labelled_pairs
from sim.grn import simulate_grn


def zero_curve(counts: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Per decile of gene mean: mean count, observed zero fraction, the Poisson expectation
    exp(-mean), and the negative binomial expectation (1 + phi m)^(-1/phi) with each gene's own
    moment dispersion phi = (var - mean) / mean^2 (Poisson where var <= mean), averaged over the
    decile's genes. Observed zeros well above the NB column mean zero inflation beyond what the
    gene's overdispersion explains; droplet UMI data sit on it (Svensson 2020)."""
    counts = np.asarray(counts, dtype=np.float64)
    mean, var = counts.mean(axis=0), counts.var(axis=0)
    zero = (counts == 0).mean(axis=0)
    safe = np.maximum(mean, 1e-12)
    phi = np.clip((var - mean) / safe**2, 1e-8, None)
    frame = pd.DataFrame({"mean": mean, "zero": zero, "poisson": np.exp(-mean),
                          "nb": np.where(mean > 0, (1 + phi * mean) ** (-1 / phi), 1.0), "phi": phi})
    frame["decile"] = pd.qcut(frame["mean"].rank(method="first"), n_bins, labels=False) + 1
    table = frame.groupby("decile").agg(mean_count=("mean", "mean"), zero_fraction=("zero", "mean"),
                                        poisson_zero=("poisson", "mean"), nb_zero=("nb", "mean"),
                                        median_phi=("phi", "median"))
    table.attrs["phi"] = float(np.median(phi[mean > 0]))
    table.attrs["overall_zero"] = float((counts == 0).mean())
    return table


def undirected_hops(n_genes: int, edges: np.ndarray) -> np.ndarray:
    """Hop count between genes in the network with edge directions ignored (inf if unconnected)."""
    graph = csr_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n_genes, n_genes))
    return shortest_path(graph, directed=False, unweighted=True)


def neighbor_table(dataset, n_neighbors: int = 10) -> pd.DataFrame:
    """One row per ranking option x score: relatedness of the neighbors of every gene in a pair."""
    pairs = labelled_pairs(dataset.tfs, dataset.gene_names, dataset.edge_names, random_state=0).pairs
    genes = np.unique(pairs)
    hops = undirected_hops(len(dataset.gene_names), dataset.edges)
    rows = []
    for normalize in NEIGHBOR_VALUES:
        for score in ("covariance", "correlation"):
            lists = neighbor_lists(dataset.counts, n_neighbors, normalize, score, genes)
            rows.append({"normalize": normalize, "score": score,
                         **neighbor_relatedness(lists, genes, hops, max_hops=2, n_hubs=5),
                         "related_1hop": neighbor_relatedness(lists, genes, hops, max_hops=1)["related"]})
    return pd.DataFrame(rows)


def shortcut_table(dataset, seed: int, n_folds: int = 3) -> pd.DataFrame:
    """Pooled test AUROC of the gene prior (by target / by TF) and of Pearson per split, the
    prior's mean per-fold AUROC (pooling mixes folds' different base rates), and the share of
    test negatives whose target gene is in a positive training pair (as TF or target)."""
    lp = labelled_pairs(dataset.tfs, dataset.gene_names, dataset.edge_names, random_state=seed)
    pearson = pcc(dataset.counts, lp.pairs)
    rows = []
    for split in ("tf", "strict"):
        folds = make_folds(lp.pairs, n_folds, split, random_state=seed)
        tested = np.concatenate([f.test for f in folds])
        prior = {by: gene_prior_cv(lp.pairs, lp.labels, folds, by=by) for by in ("target", "tf")}
        fold_auroc, leak = [], []
        for fold in folds:
            y_test = lp.labels[fold.test]
            fold_auroc.append(auroc(y_test, prior["target"][fold.test]) if len(np.unique(y_test)) == 2 else np.nan)
            train_positive_genes = lp.pairs[fold.train][lp.labels[fold.train] == 1].ravel()
            leak.append(np.isin(lp.pairs[fold.test, 1], train_positive_genes)[y_test == 0].mean())
        y = lp.labels[tested]
        rows.append({"seed": seed, "split": split, "tested": len(tested), "pairs": len(lp),
                     "train_per_fold": float(np.mean([len(f.train) for f in folds])),
                     "dropped_per_fold": float(np.mean([f.n_dropped for f in folds])),
                     "prior_target_auroc": auroc(y, prior["target"][tested]),
                     "prior_tf_auroc": auroc(y, prior["tf"][tested]),
                     "prior_target_fold_auroc": float(np.nanmean(fold_auroc)),
                     "neg_target_was_train_pos": float(np.mean(leak)),
                     "pearson_auroc": auroc(y, pearson[tested])})
    return pd.DataFrame(rows)


def default_estimator_params(seed: int, n_neighbors: int = 10) -> dict:
    """DeepDRIM keyword arguments of the default job (its config composed as run.py composes it)."""
    from pathlib import Path

    from hydra import compose, initialize_config_dir

    from experiments.config.method import estimator_params

    with initialize_config_dir(str(Path(__file__).resolve().parents[1] / "conf"), version_base="1.3"):
        return estimator_params(compose("config", overrides=[f"seed={seed}", f"neighbors={n_neighbors}"]))


def supervised_table(dataset, seed: int, n_folds: int = 3) -> pd.DataFrame:
    """DeepDRIM trained per fold under split=tf and split=strict; AUROC on each split's tested
    pairs, and (for tf) on the pairs the strict split tests, beside gene prior and Pearson."""
    from deepdrim.estimator import DeepDRIM

    lp = labelled_pairs(dataset.tfs, dataset.gene_names, dataset.edge_names, random_state=seed)
    pearson = pcc(dataset.counts, lp.pairs)
    params = default_estimator_params(seed)
    scores = {}
    for split in ("tf", "strict"):
        score = np.full(len(lp), np.nan)
        folds = make_folds(lp.pairs, n_folds, split, random_state=seed)
        for fold in folds:
            model = DeepDRIM(**params).fit(dataset.counts, lp.pairs[fold.train], lp.labels[fold.train])
            score[fold.test] = model.predict_proba(lp.pairs[fold.test])[:, 1]
        scores[split] = (score, gene_prior_cv(lp.pairs, lp.labels, folds))
    strict_tested = np.isfinite(scores["strict"][0])
    rows = []
    for split, subset in (("tf", "all"), ("tf", "strict-tested"), ("strict", "strict-tested")):
        keep = strict_tested if subset == "strict-tested" else np.isfinite(scores[split][0])
        y = lp.labels[keep]
        rows.append({"seed": seed, "split": split, "pairs_scored": subset, "n": int(keep.sum()),
                     "deepdrim_auroc": auroc(y, scores[split][0][keep]),
                     "prior_target_auroc": auroc(y, scores[split][1][keep]),
                     "pearson_auroc": auroc(y, pearson[keep])})
    return pd.DataFrame(rows)


def matched_size_table(dataset, seed: int, n_folds: int = 3) -> pd.DataFrame:
    """Control for :func:`supervised_table`: DeepDRIM under split=tf with each fold's training
    set cut (class-stratified, seeded) to the strict split's mean training size, so a tf-vs-strict
    gap can be told apart from the strict split's smaller training sets."""
    from deepdrim.estimator import DeepDRIM
    from sim.subsample import training_pairs

    lp = labelled_pairs(dataset.tfs, dataset.gene_names, dataset.edge_names, random_state=seed)
    strict = make_folds(lp.pairs, n_folds, "strict", random_state=seed)
    strict_tested = np.zeros(len(lp), dtype=bool)
    strict_tested[np.concatenate([f.test for f in strict])] = True
    target_size = np.mean([len(f.train) for f in strict])
    params = default_estimator_params(seed)
    score = np.full(len(lp), np.nan)
    for k, fold in enumerate(make_folds(lp.pairs, n_folds, "tf", random_state=seed)):
        train = training_pairs(fold.train, lp.labels[fold.train], min(1.0, target_size / len(fold.train)),
                               random_state=seed * 1000 + k)
        model = DeepDRIM(**params).fit(dataset.counts, lp.pairs[train], lp.labels[train])
        score[fold.test] = model.predict_proba(lp.pairs[fold.test])[:, 1]
    pearson = pcc(dataset.counts, lp.pairs)
    rows = [{"seed": seed, "split": "tf, train cut to strict size", "pairs_scored": subset, "n": int(keep.sum()),
             "deepdrim_auroc": auroc(lp.labels[keep], score[keep]), "pearson_auroc": auroc(lp.labels[keep], pearson[keep])}
            for subset, keep in (("all", np.ones(len(lp), dtype=bool)), ("strict-tested", strict_tested))]
    return pd.DataFrame(rows)


def _parse(value: str):
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def markdown(table: pd.DataFrame, index: bool = True) -> str:
    """A DataFrame as a Markdown table (3 decimals), without the optional ``tabulate``."""
    frame = table.reset_index() if index else table
    cells = [[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row] for row in frame.to_numpy()]
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * frame.shape[1]]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("zeros", "neighbors", "shortcut", "cv", "cv-matched"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--sim", action="append", default=[], help="simulate_grn keyword KEY=VALUE")
    args = parser.parse_args(argv)
    kwargs = {k: _parse(v) for k, _, v in (item.partition("=") for item in args.sim)}
    tables = []
    for seed in args.seeds:
        dataset = simulate_grn(**kwargs, random_state=seed)
        if args.what == "zeros":
            table = zero_curve(dataset.counts)
            print(f"seed {seed}: overall zero fraction {table.attrs['overall_zero']:.3f}, "
                  f"median gene NB dispersion phi={table.attrs['phi']:.2f}")
            print(markdown(table))
        elif args.what == "neighbors":
            table = neighbor_table(dataset).assign(seed=seed)
            tables.append(table)
        elif args.what in ("cv", "cv-matched"):
            tables.append((supervised_table if args.what == "cv" else matched_size_table)(dataset, seed))
            print(markdown(tables[-1], index=False), flush=True)
        else:
            tables.append(shortcut_table(dataset, seed))
    if tables:
        table = pd.concat(tables, ignore_index=True)
        print(markdown(table, index=False))
        keys = {"neighbors": ["normalize", "score"], "cv": ["split", "pairs_scored"],
                "cv-matched": ["split", "pairs_scored"]}.get(args.what, ["split"])
        print("\nmean over seeds:")
        print(markdown(table.drop(columns="seed").groupby(keys, sort=False).mean()))


if __name__ == "__main__":
    main()
