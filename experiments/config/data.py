"""Turn a ``data`` config into the library's data object with labelled pairs: each config points
at the function that makes it (``_target_``), called with the config's keys and ``random_state=seed``.

Kinds (``data=<kind>`` on the command line, ``conf/data/<kind>.yaml``):

* ``sim`` - the embedded GRN simulation (:func:`sim.grn.grn_dataset`);
* ``sergio`` - SERGIO's simulation (:func:`sim.sergio.sergio_dataset`) on the suite's GRN or a sub-network of its
  bundled E. coli / human networks (``data.grn=own|ecoli|human``), cached under ``data.cache``;
* ``beeline`` - a BEELINE folder, ``data.path=DIR`` (:func:`deepdrim.io.load_beeline`);
* ``h5ad`` - an AnnData file plus a BEELINE-style network CSV, ``data.path=FILE data.network=FILE``
  and optionally ``data.layer=NAME`` (:func:`deepdrim.io.load_h5ad`);
* ``reference`` - the DeepDRIM reference code's files, ``data.path=EXPR_CSV data.pairs=PAIR_FILE``
  and optionally ``data.divide=FILE`` (:func:`deepdrim.io.load_reference`); its pair labels are
  used as given.

For ``beeline``/``h5ad`` the labelled pairs come from the network as for the simulation
(:func:`deepdrim.pairs.labelled_pairs`, ``data.negatives`` balanced|all). Relative paths are
resolved against the directory the command was run from. Every input problem is a one-line
``ValueError`` (missing files included), raised before anything is written.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable, Optional

import pandas as pd

from deepdrim.data import Dataset
from experiments.config.paths import PROJECT_ROOT, project_path

DATA_KINDS = ("sim", "sergio", "beeline", "h5ad", "reference")
SIMULATED_KINDS = ("sim", "sergio")  # the data is made from the config (its size is known before loading)
#: the keys of a real-data kind that name files
FILE_KEYS = ("path", "network", "pairs", "divide")
CONF_DATA = PROJECT_ROOT / "conf" / "data"


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
    if _blank(value):
        if required:
            raise ValueError(f"data={kind} needs data.{key}=... (see docs/real-data.md)")
        return None
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else launch_dir() / path


# ---------------------------------------------------------------------------------------------- real data


def _blank(value) -> bool:
    return value is None or str(value).strip() in ("", "???")


def _folder_network(folder: Path, network) -> Optional[Path]:
    """``data.network`` of a BEELINE folder: relative to the folder (``networks/STRING.BL--network.csv``),
    else, when no such file is there, relative to the launch directory; or absolute."""
    if _blank(network):
        return None
    path = Path(str(network)).expanduser()
    if path.is_absolute() or (folder / path).is_file() or not (launch_dir() / path).is_file():
        return path  # the reader takes it relative to the folder and names that path when missing
    return launch_dir() / path


def target(cfg: dict) -> Callable[..., Dataset]:
    """The function a data config points at (``_target_``: a simulator of sim/ or a loader of
    :mod:`deepdrim.io`); a config without one (a dict written by a script or a test) takes its kind's
    from ``conf/data/<kind>.yaml``, so the target is written in one place."""
    from omegaconf import OmegaConf

    from experiments.config.checks import target_of

    return target_of(cfg.get("_target_") or OmegaConf.load(CONF_DATA / f"{cfg.get('kind', 'sim')}.yaml")["_target_"],
                     "data")


def _arguments(cfg: dict, kind: str, call: Callable) -> dict:
    """The data config as the target's keyword arguments: ``kind`` and ``_target_`` dropped, file keys
    made absolute (relative ones against the launch directory; a BEELINE network against its folder
    first; a simulation cache against the project); an unset file key the target needs is a one-line error."""
    import inspect

    args = {key: value for key, value in cfg.items() if key not in ("kind", "_target_")}
    if kind in SIMULATED_KINDS:
        if "cache" in args:
            args["cache"] = project_path(args["cache"]) if args["cache"] else None
        return args
    params = inspect.signature(call).parameters
    for key in FILE_KEYS:
        if key in params and not (kind == "beeline" and key == "network"):
            required = params[key].default is inspect.Parameter.empty
            args[key] = resolve_path(args.get(key), key, kind, required)
    if kind == "beeline":
        args["network"] = _folder_network(args["path"], args.get("network"))
    return args


def load(cfg: dict, seed: int) -> Dataset:
    """The job's data object with its labelled pairs: the data config's target (:func:`target`) called
    with its keys and ``random_state=seed``; input errors (missing files included) become one-line
    ``ValueError``s (a simulation's own errors are raised as they are)."""
    kind = cfg.get("kind", "sim")
    if kind not in DATA_KINDS:
        raise ValueError(f"unknown data kind {kind!r}; known: {', '.join(DATA_KINDS)}")
    call = target(cfg)
    args = _arguments(cfg, kind, call)
    try:
        return call(**args, random_state=seed)
    except Exception as error:  # noqa: BLE001 - sorted by _input_error
        raise _input_error(cfg, kind, error) from None


def _input_error(cfg: dict, kind: str, error: Exception) -> Exception:
    """What a failed load says: a key the target does not take, a missing or unreadable input file
    (naming it), else the error itself."""
    unknown = isinstance(error, TypeError) and re.search(r"unexpected keyword argument '(\w+)'", str(error))
    if unknown:
        return ValueError(f"data={kind} has no key {unknown.group(1)!r} (see conf/data/{kind}.yaml)")
    if kind in SIMULATED_KINDS:
        return error
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    if isinstance(error, (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)):
        return ValueError(message)
    if not isinstance(error, (ValueError, UnicodeDecodeError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError)):
        return error
    # a file that exists but does not parse (random bytes, a truncated h5ad): name the input
    given = [str(cfg.get(key)) for key in FILE_KEYS if cfg.get(key)]
    if isinstance(error, ValueError) and not isinstance(error, UnicodeDecodeError) and (any(
            Path(g).name in message for g in given) or message.startswith("data.")):
        return ValueError(message)
    return ValueError(f"data={kind} data.path={cfg.get('path')}: cannot read the input "
                      f"({type(error).__name__}: {message})")


# ---------------------------------------------------------------------------------------------- export


def export_simulation(folder: Path, cfg: Optional[dict] = None, seed: int = 0) -> Path:
    """The simulation of ``cfg`` (default: ``conf/data/sim.yaml``) as a BEELINE folder."""
    from deepdrim.io import write_beeline
    from sim.grn import simulate_grn

    if cfg is None:
        from omegaconf import OmegaConf

        cfg = OmegaConf.to_container(OmegaConf.load(Path(__file__).resolve().parents[2] / "conf/data/sim.yaml"))
    params = {key: value for key, value in cfg.items() if key not in ("_target_", "kind", "negatives")}
    dataset = simulate_grn(**params, random_state=seed)
    return write_beeline(folder, dataset.expression, dataset.edge_names, dataset.signs, dataset.pseudotime)
