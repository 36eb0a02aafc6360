"""Turn a ``data`` config into expression + labelled pairs (the simulator is the default).

Kinds (``data=<kind>`` on the command line, ``conf/data/<kind>.yaml``):

* ``sim`` - the embedded GRN simulation (:mod:`sim.grn`);
* ``sergio`` - SERGIO's simulation (:mod:`sim.sergio`) on the suite's GRN or a sub-network of its
  bundled E. coli / human networks (``data.grn=own|ecoli|human``), cached under ``data.cache``;
* ``beeline`` - a BEELINE folder, ``data.path=DIR`` (:func:`deepdrim.io.read_beeline`);
* ``h5ad`` - an AnnData file plus a BEELINE-style network CSV, ``data.path=FILE data.network=FILE``
  and optionally ``data.layer=NAME`` (:func:`deepdrim.io.read_h5ad`);
* ``reference`` - the DeepDRIM reference code's files, ``data.path=EXPR_CSV data.pairs=PAIR_FILE``
  and optionally ``data.divide=FILE`` (:func:`deepdrim.io.read_reference`); its pair labels are
  used as given.

For ``beeline``/``h5ad`` the labelled pairs come from the network as for the simulation
(:func:`deepdrim.pairs.labelled_pairs`, ``data.negatives`` balanced|all). Relative paths are
resolved against the directory the command was run from. Every input problem is a one-line
``ValueError`` (missing files included), raised before anything is written.
"""
from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from deepdrim.pairs import LabelledPairs, labelled_pairs, reachability

DATA_KINDS = ("sim", "sergio", "beeline", "h5ad", "reference")
SIMULATED_KINDS = ("sim", "sergio")  # the data is made from the config (its size is known before loading)
log = logging.getLogger(__name__)


@dataclass
class JobData:
    """What a job learns from: expression (cells x genes, gene-named columns), the labelled pairs
    (gene indices into its columns) and where it came from."""

    expression: pd.DataFrame
    pairs: LabelledPairs
    source: str
    tfs: Optional[list] = None
    edges: Optional[list] = None

    @property
    def gene_names(self) -> list:
        return list(self.expression.columns)

    def pair_names(self, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        names = np.asarray(self.gene_names, dtype=object)
        return names[pairs[:, 0]], names[pairs[:, 1]]


def _sim_params(cfg: dict) -> dict:
    """``simulate_grn`` keyword arguments from a ``data=sim`` config."""
    params = {k: v for k, v in cfg.items() if k not in ("kind", "negatives")}
    if "regulators_per_gene" in params:
        params["regulators_per_gene"] = tuple(params["regulators_per_gene"])
    return params


def simulated(cfg: dict, seed: int) -> JobData:
    """The embedded GRN simulation and its pairs."""
    from sim.grn import simulate_grn

    dataset = simulate_grn(**_sim_params(cfg), random_state=seed)
    pairs = labelled_pairs(dataset.tfs, dataset.gene_names, dataset.edge_names,
                           negatives=cfg.get("negatives", "balanced"), random_state=seed)
    return JobData(dataset.expression, pairs, f"sim.grn seed={seed}", dataset.tfs, dataset.edge_names)


def sergio_params(cfg: dict) -> dict:
    """``simulate_sergio`` keyword arguments from a ``data=sergio`` config."""
    return {k: v for k, v in cfg.items() if k not in ("kind", "negatives", "cache")}


def sergio(cfg: dict, seed: int) -> JobData:
    """SERGIO's simulation (cached under ``data.cache``) and its pairs, built as for ``sim``."""
    import inspect

    from experiments.config.paths import project_path
    from sim.sergio import simulate_sergio

    params = sergio_params(cfg)
    unknown = sorted(set(params) - set(inspect.signature(simulate_sergio).parameters))
    if unknown:
        raise ValueError(f"data=sergio has no key {unknown[0]!r} (see conf/data/sergio.yaml)")
    cache = project_path(cfg["cache"]) if cfg.get("cache") else None
    dataset = simulate_sergio(**params, random_state=seed, cache_dir=cache)
    pairs = labelled_pairs(dataset.tfs, dataset.gene_names, dataset.edge_names,
                           negatives=cfg.get("negatives", "balanced"), random_state=seed)
    log.info("sergio grn=%s: %d TFs, %d labelled pairs (%d positive)", dataset.params["grn"],
             len(dataset.tfs), len(pairs), int(pairs.labels.sum()))
    return JobData(dataset.expression, pairs, f"sim.sergio grn={dataset.params['grn']} seed={seed}",
                   dataset.tfs, dataset.edge_names)


# ---------------------------------------------------------------------------------------------- paths


def launch_dir() -> Path:
    """The directory the user ran the command from (Hydra's ``runtime.cwd``; the process cwd
    outside Hydra, which is the same since ``hydra.job.chdir=false``)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return Path(HydraConfig.get().runtime.cwd)
    except (ImportError, ValueError):  # not inside a Hydra job
        return Path(os.getcwd())


def resolve_path(value, key: str, kind: str, required: bool = True) -> Optional[Path]:
    """``data.<key>`` as an absolute path (relative ones against :func:`launch_dir`); a one-line
    error when it is required but not set."""
    if value is None or str(value).strip() in ("", "???"):
        if required:
            raise ValueError(f"data={kind} needs data.{key}=... (see docs/real-data.md)")
        return None
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else launch_dir() / path


# ---------------------------------------------------------------------------------------------- real data


def choose_tfs(tfs, max_tfs, seed: int) -> list:
    """``max_tfs`` of ``tfs`` drawn by ``seed`` (the paper trained on 18 random ChIP-seq TFs per cell
    type), in sorted name order so the draw does not depend on the network file's row order; all
    of them when ``max_tfs`` is None. ``ValueError`` when ``max_tfs`` exceeds the TFs there are."""
    names = sorted(dict.fromkeys(tfs), key=str)
    if max_tfs is None:
        return names
    if isinstance(max_tfs, bool) or not isinstance(max_tfs, (int, np.integer)) or max_tfs < 1:
        raise ValueError(f"data.max_tfs must be an integer >= 1 or null, got {max_tfs!r}")
    if max_tfs > len(names):
        raise ValueError(f"data.max_tfs={max_tfs} but the network has {len(names)} TFs; use at most {len(names)} "
                         f"(or data.max_tfs=null for all)")
    rng = np.random.default_rng([int(seed), 0x7F5])  # its own stream: the pair draws keep theirs
    return sorted(rng.choice(np.asarray(names, dtype=object), size=int(max_tfs), replace=False).tolist(), key=str)


def _network_pairs(dataset, cfg: dict, seed: int, kind: str) -> JobData:
    """Labelled pairs of a network-bearing :class:`deepdrim.io.Dataset` (TFs = its regulators, or
    ``data.max_tfs`` of them drawn by seed, with only their edges)."""
    genes = list(dataset.expression.columns)
    if dataset.edges.empty:
        raise ValueError(f"{dataset.source}: the network has no edges between genes of the expression")
    max_tfs = cfg.get("max_tfs")
    tfs = list(dataset.tfs) if max_tfs is None else choose_tfs(dataset.tfs, max_tfs, seed)
    table = dataset.edges[dataset.edges["tf"].isin(set(tfs))]
    edges = list(zip(table["tf"], table["target"]))
    n_targets = table.groupby("tf")["target"].nunique()
    full = n_targets[n_targets >= len(genes) - 1]
    if len(full):
        raise ValueError(f"TF {full.index[0]!r} regulates every other gene: no negative pair is possible "
                         f"({len(full)} such TF(s)); remove it from the network")
    # every edge for the pairs' kinds (a target reached through an undrawn TF is still "transitive");
    # positives are the drawn TFs' edges only
    with warnings.catch_warnings(record=True) as said:  # the library's warnings, as one log line each
        warnings.simplefilter("always")
        pairs = labelled_pairs(tfs, genes, list(zip(dataset.edges["tf"], dataset.edges["target"])),
                               negatives=cfg.get("negatives", "balanced"), random_state=seed)
    for warning in said:
        log.warning("%s: %s", dataset.source, warning.message)
    if len(np.unique(pairs.labels)) < 2:
        raise ValueError(f"{dataset.source}: the network gives only one class of pairs")
    if max_tfs is None:
        log.info("%s: %d TFs, %d labelled pairs (%d positive)", dataset.source, len(tfs), len(pairs),
                 int(pairs.labels.sum()))
    else:
        log.info("%s: data.max_tfs=%d of %d TFs (seed %d): %s -> %d labelled pairs (%d positive) of %d edges",
                 dataset.source, len(tfs), len(dataset.tfs), seed, ", ".join(map(str, tfs)), len(pairs),
                 int(pairs.labels.sum()), len(dataset.edges))
    return JobData(dataset.expression, pairs, f"{kind} {dataset.source}", tfs, edges)


def _reference_pairs(dataset) -> JobData:
    """The reference pair file's labels as given (the reader kept the label 0/1 rows, the first of
    repeated pairs); ``edges`` are its directed edges, label-2 rows (B -> A) included, for task=direction."""
    genes = list(dataset.expression.columns)
    index = {g: i for i, g in enumerate(genes)}
    table = dataset.pairs
    pairs = np.column_stack([table["tf"].map(index).to_numpy(), table["target"].map(index).to_numpy()]).astype(np.int64)
    labels = table["label"].to_numpy(dtype=np.int64)
    if len(np.unique(labels)) < 2:
        raise ValueError(f"{dataset.source}: the pair file holds only label {int(labels[0])}; need 0 and 1")
    edges = pairs[labels == 1]
    reach = np.isfinite(reachability(len(genes), edges)[pairs[:, 0], pairs[:, 1]])
    kind = np.where(labels == 1, "direct", np.where(reach, "transitive", "random"))
    names = np.asarray(genes, dtype=object)
    return JobData(dataset.expression, LabelledPairs(pairs, labels, kind), dataset.source,
                   list(dict.fromkeys(names[pairs[:, 0]])), list(zip(dataset.edges["tf"], dataset.edges["target"])))


def direction_pairs(data: JobData, seed: int, n_folds: int):
    """The data's TF pairs with their direction classes (:func:`deepdrim.direction.directed_pairs`,
    drawn by ``seed``); a one-line ``ValueError`` when the network has too few for ``n_folds`` folds."""
    from deepdrim.direction import directed_pairs

    if not data.tfs or not data.edges:
        raise ValueError(f"{data.source}: direction needs a network with TFs (data=sim, sergio, beeline or h5ad)")
    pairs = directed_pairs(data.tfs, data.gene_names, data.edges, random_state=seed)
    n_edges, n_none = int((pairs.classes == 1).sum()), int((pairs.classes == 0).sum()) // 2
    if n_edges < 2 * n_folds or n_none < n_folds:
        raise ValueError(f"{data.source}: only {n_edges} TF-TF edge(s) with one direction (and {n_none} TF pairs "
                         f"without an edge): {n_folds} folds need at least {2 * n_folds} edges and {n_folds} "
                         f"no-edge pairs; use data with more TFs")
    return pairs


def check_varies(data: JobData) -> JobData:
    """Refuse expression in which no gene varies (all zero, or one value per gene): every pair image
    is then one pixel, training learns nothing and the AUROC of 0.5 would look like a result."""
    values = data.expression.to_numpy()
    if not len(values) or np.all(values == values[:1]):
        source = data.source.split(" ", 1)[-1] if data.source.startswith(DATA_KINDS) else data.source
        raise ValueError(f"{source}: no gene varies across cells (every gene has one value in all "
                         f"{len(values)} cells): nothing to learn from")
    return data


def _folder_network(folder: Path, network) -> Optional[Path]:
    """``data.network`` of a BEELINE folder: relative to the folder (``networks/STRING.BL--network.csv``),
    else, when no such file is there, relative to the launch directory; or absolute."""
    if network is None:
        return None
    path = Path(str(network)).expanduser()
    if path.is_absolute() or (folder / path).is_file() or not (launch_dir() / path).is_file():
        return path  # the reader takes it relative to the folder and names that path when missing
    return launch_dir() / path


def _limit_tfs(data: JobData, max_tfs, seed: int) -> JobData:
    """The reference format's pairs of ``data.max_tfs`` TFs drawn by seed (:func:`choose_tfs`)."""
    if max_tfs is None:
        return data
    names = np.asarray(data.gene_names, dtype=object)
    tfs = choose_tfs(data.tfs, max_tfs, seed)
    keep = np.isin(names[data.pairs.pairs[:, 0]], np.asarray(tfs, dtype=object))
    pairs = LabelledPairs(data.pairs.pairs[keep], data.pairs.labels[keep], data.pairs.kind[keep])
    if len(np.unique(pairs.labels)) < 2:
        raise ValueError(f"{data.source}: the pairs of the data.max_tfs={max_tfs} TFs drawn hold one class only")
    log.info("%s: data.max_tfs=%d of %d TFs (seed %d): %s -> %d labelled pairs (%d positive)", data.source,
             len(tfs), len(data.tfs), seed, ", ".join(map(str, tfs)), len(pairs), int(pairs.labels.sum()))
    edges = [e for e in data.edges if e[0] in set(tfs)]
    return JobData(data.expression, pairs, data.source, tfs, edges)


def read(cfg: dict, seed: int) -> JobData:
    """A real-data kind (beeline, h5ad, reference) as :class:`JobData`."""
    from deepdrim import io

    kind = cfg.get("kind")
    path = resolve_path(cfg.get("path"), "path", kind)
    if kind == "beeline":
        network = cfg.get("network")
        if network is not None and str(network).strip() in ("", "???"):
            network = None
        return _network_pairs(io.read_beeline(path, _folder_network(path, network)), cfg, seed, kind)
    if kind == "h5ad":
        network = resolve_path(cfg.get("network"), "network", kind)
        return _network_pairs(io.read_h5ad(path, network, layer=cfg.get("layer")), cfg, seed, kind)
    divide = resolve_path(cfg.get("divide"), "divide", kind, required=False)
    data = _reference_pairs(io.read_reference(path, resolve_path(cfg.get("pairs"), "pairs", kind), divide))
    return _limit_tfs(data, cfg.get("max_tfs"), seed)


def load(cfg: dict, seed: int) -> JobData:
    """Dispatch on ``data.kind``; input errors (missing files included) become ``ValueError``."""
    kind = cfg.get("kind", "sim")
    if kind == "sim":
        return simulated(cfg, seed)
    if kind == "sergio":
        return sergio(cfg, seed)
    if kind not in DATA_KINDS:
        raise ValueError(f"unknown data kind {kind!r}; known: {', '.join(DATA_KINDS)}")
    try:
        return check_varies(read(cfg, seed))
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as error:
        raise ValueError(str(error).splitlines()[0] if str(error) else type(error).__name__) from None
    except (ValueError, UnicodeDecodeError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        # a file that exists but does not parse (random bytes, a truncated h5ad): name the input
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        given = [str(cfg.get(key)) for key in ("path", "network", "pairs", "divide") if cfg.get(key)]
        if isinstance(error, ValueError) and not isinstance(error, UnicodeDecodeError) and (any(
                Path(g).name in message for g in given) or message.startswith("data.")):
            raise ValueError(message) from None
        raise ValueError(f"data={kind} data.path={cfg.get('path')}: cannot read the input "
                         f"({type(error).__name__}: {message})") from None


# ---------------------------------------------------------------------------------------------- export


def write_beeline(folder: Path, expression: pd.DataFrame, edges, signs=None, pseudotime=None) -> Path:
    """Write a BEELINE folder (``ExpressionData.csv`` genes x cells, ``refNetwork.csv``, and
    ``PseudoTime.csv`` when given), each file atomically: e.g. the simulation for a user's tools."""
    from experiments.tracking.artifacts import write_csv

    folder = Path(folder)
    edges = list(edges)
    signs = np.ones(len(edges), dtype=int) if signs is None else np.asarray(signs)
    cells = [f"cell{i}" for i in range(len(expression))] if isinstance(expression.index, pd.RangeIndex) \
        else [str(c) for c in expression.index]
    genes_by_cells = pd.DataFrame(expression.to_numpy().T, index=[str(g) for g in expression.columns], columns=cells)
    write_csv(genes_by_cells.reset_index(names=""), folder / "ExpressionData.csv")
    network = pd.DataFrame({"Gene1": [a for a, _ in edges], "Gene2": [b for _, b in edges],
                            "Type": np.where(signs < 0, "-", "+")})
    write_csv(network, folder / "refNetwork.csv")
    if pseudotime is not None:
        write_csv(pd.DataFrame({"": cells, "PseudoTime": np.asarray(pseudotime, dtype=float)}),
                  folder / "PseudoTime.csv")
    return folder


def export_simulation(folder: Path, cfg: Optional[dict] = None, seed: int = 0) -> Path:
    """The simulation of ``cfg`` (default: ``conf/data/sim.yaml``) as a BEELINE folder."""
    from sim.grn import simulate_grn

    if cfg is None:
        from omegaconf import OmegaConf

        cfg = OmegaConf.to_container(OmegaConf.load(Path(__file__).resolve().parents[2] / "conf/data/sim.yaml"))
    dataset = simulate_grn(**_sim_params(cfg), random_state=seed)
    return write_beeline(folder, dataset.expression, dataset.edge_names, dataset.signs, dataset.pseudotime)
