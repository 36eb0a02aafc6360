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
from dataclasses import replace
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from deepdrim.data import Dataset, check_varies, with_pairs

DATA_KINDS = ("sim", "sergio", "beeline", "h5ad", "reference")
SIMULATED_KINDS = ("sim", "sergio")  # the data is made from the config (its size is known before loading)
log = logging.getLogger(__name__)


def _sim_params(cfg: dict) -> dict:
    """``simulate_grn`` keyword arguments from a ``data=sim`` config."""
    params = {k: v for k, v in cfg.items() if k not in ("kind", "negatives")}
    if "regulators_per_gene" in params:
        params["regulators_per_gene"] = tuple(params["regulators_per_gene"])
    return params


def simulated(cfg: dict, seed: int) -> Dataset:
    """The embedded GRN simulation and its pairs."""
    from sim.grn import simulate_grn

    data = simulate_grn(**_sim_params(cfg), random_state=seed).to_dataset(f"sim.grn seed={seed}")
    return with_pairs(data, cfg.get("negatives", "balanced"), seed=seed)


def sergio_params(cfg: dict) -> dict:
    """``simulate_sergio`` keyword arguments from a ``data=sergio`` config."""
    return {k: v for k, v in cfg.items() if k not in ("kind", "negatives", "cache")}


def sergio(cfg: dict, seed: int) -> Dataset:
    """SERGIO's simulation (cached under ``data.cache``) and its pairs, built as for ``sim``."""
    import inspect

    from experiments.config.paths import project_path
    from sim.sergio import simulate_sergio

    params = sergio_params(cfg)
    unknown = sorted(set(params) - set(inspect.signature(simulate_sergio).parameters))
    if unknown:
        raise ValueError(f"data=sergio has no key {unknown[0]!r} (see conf/data/sergio.yaml)")
    cache = project_path(cfg["cache"]) if cfg.get("cache") else None
    simulation = simulate_sergio(**params, random_state=seed, cache_dir=cache)
    data = simulation.to_dataset(f"sim.sergio grn={simulation.params['grn']} seed={seed}")
    return with_pairs(data, cfg.get("negatives", "balanced"), seed=seed)


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


def _folder_network(folder: Path, network) -> Optional[Path]:
    """``data.network`` of a BEELINE folder: relative to the folder (``networks/STRING.BL--network.csv``),
    else, when no such file is there, relative to the launch directory; or absolute."""
    if network is None:
        return None
    path = Path(str(network)).expanduser()
    if path.is_absolute() or (folder / path).is_file() or not (launch_dir() / path).is_file():
        return path  # the reader takes it relative to the folder and names that path when missing
    return launch_dir() / path


def read(cfg: dict) -> Dataset:
    """A real-data kind (beeline, h5ad, reference) as the library's data object, without drawn pairs."""
    from deepdrim import io

    kind = cfg.get("kind")
    path = resolve_path(cfg.get("path"), "path", kind)
    if kind == "beeline":
        network = cfg.get("network")
        if network is not None and str(network).strip() in ("", "???"):
            network = None
        return io.read_beeline(path, _folder_network(path, network))
    if kind == "h5ad":
        return io.read_h5ad(path, resolve_path(cfg.get("network"), "network", kind), layer=cfg.get("layer"))
    divide = resolve_path(cfg.get("divide"), "divide", kind, required=False)
    return io.read_reference(path, resolve_path(cfg.get("pairs"), "pairs", kind), divide)


def load(cfg: dict, seed: int) -> Dataset:
    """The job's data object with its labelled pairs (:func:`deepdrim.data.with_pairs`), dispatched on
    ``data.kind``; input errors (missing files included) become ``ValueError``."""
    kind = cfg.get("kind", "sim")
    if kind == "sim":
        return simulated(cfg, seed)
    if kind == "sergio":
        return sergio(cfg, seed)
    if kind not in DATA_KINDS:
        raise ValueError(f"unknown data kind {kind!r}; known: {', '.join(DATA_KINDS)}")
    try:
        data = with_pairs(check_varies(read(cfg)), cfg.get("negatives", "balanced"), cfg.get("max_tfs"), seed)
        return data if kind == "reference" else replace(data, source=f"{kind} {data.source}")
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
