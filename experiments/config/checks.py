"""One check per concern, shared by the jobs and by ``run.py``'s validation pass (``cli``):
each raises a one-line ``ValueError`` naming the knob, before anything runs or is written."""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Callable, Iterable, Optional

from deepdrim._validation import check_choice, check_flag, check_integer, check_neighbors, check_real, \
    check_text
from deepdrim.baselines import BASELINES
from deepdrim.choices import MAX_SEED, MODEL_PARAMETERS, NEGATIVE_MODES, PARAMETERS, SPLITS
from sim.degrade import PREPROCESS
from sim.dropout import PARAMETERS as DROPOUT_PARAMETERS
from sim.grn import PARAMETERS as GRN_PARAMETERS
from sim.magic import PARAMETERS as MAGIC_PARAMETERS
from sim.sergio import PARAMETERS as SERGIO_PARAMETERS
from sim.subsample import TRAIN_FRACTION, check_cells

from experiments.config.data import SIMULATED_KINDS
from experiments.config.store_checks import check_search_storage, check_store

# cnnc = DeepDRIM with the primary image only (conf/method/cnnc.yaml); target_only = DeepDRIM fed
# only the target gene's images, an ablation (conf/method/target_only.yaml, model.inputs=target_only)
SUPERVISED = ("deepdrim", "cnnc", "target_only")
METHODS = SUPERVISED + tuple(BASELINES)


def method(name) -> str:
    """A known method: DeepDRIM, CNNC or a baseline of ``deepdrim.baselines``."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; known: {', '.join(METHODS)}")
    return name


def neighbors(value, n_genes: Optional[int] = None, method_name: str = "deepdrim", minimum: int = 0) -> int:
    """``neighbors`` (n of the paper) fits the data (:func:`deepdrim._validation.check_neighbors`);
    ``method=cnnc`` is DeepDRIM with neighbors=0, so any other value is a contradiction."""
    check_neighbors("neighbors", value, None, minimum)
    if method_name == "cnnc" and value != 0:
        raise ValueError(f"method=cnnc is DeepDRIM with neighbors=0 (primary image only), got neighbors={value}; "
                         f"use method=deepdrim neighbors={value} (or sweep method=deepdrim neighbors=0,{value})")
    if method_name == "target_only" and value == 0:
        raise ValueError("method=target_only feeds the target's self and neighbor images: it needs neighbors >= 1, "
                         "got neighbors=0")
    return check_neighbors("neighbors", value, n_genes, minimum)


def target_of(name, group: str) -> Callable:
    """The callable ``<group>._target_`` names (a dotted path), or a one-line ``ValueError``."""
    from hydra.utils import get_object

    try:
        found = get_object(str(name))
    except Exception as error:  # noqa: BLE001 - Hydra's lookup errors are multi-line
        raise ValueError(f"{group}._target_={name}: {str(error).splitlines()[0]}") from None
    if not callable(found):
        raise ValueError(f"{group}._target_={name} is not a class or function")
    return found


def check_targets(config: dict) -> None:
    """A target of the user's own (not one ``conf/`` ships: those would import TensorFlow here) imports."""
    from experiments.config.paths import shipped_targets

    for group in ("model", "data"):
        name = (config.get(group) or {}).get("_target_")
        if name is not None and name not in shipped_targets():
            target_of(name, group)


# --- the whole composed config, checked once before anything is written (run.py's validation pass)
# Choices and ranges are the library's (deepdrim.choices, sim.grn, sim.sergio, sim.magic, sim.dropout,
# sim.subsample: none imports TensorFlow)
#: cells x genes of a simulated job: 5e7 values are 400 MB per float64 copy, and the job holds several
MAX_EXPRESSION_VALUES = 50_000_000
# _i(minimum=1) is partial(check_integer, minimum=1): a check(name, value) of the library's validators
_i, _f, _c = partial(partial, check_integer), partial(partial, check_real), partial(partial, check_choice)
_TEXT, _OPTIONAL_TEXT = check_text, partial(check_text, nullable=True)
#: dotted key -> check(name, value); a key absent from the composed config is not checked (groups
#: differ: data=sim has n_cells, data=beeline has path). Unknown keys are Hydra's to refuse. The
#: model and training groups are the estimator's parameters: their rules are deepdrim.choices.PARAMETERS;
#: a simulation's data keys are its simulator's (:data:`SIMULATOR_RULES`).
SCHEMA = {
    "seed": _i(minimum=0, maximum=MAX_SEED), "neighbors": _i(minimum=0), "force": check_flag,
    "method": lambda n, v: method(v), "study": _OPTIONAL_TEXT, "model_path": _OPTIONAL_TEXT,
    "cells": check_cells, **DROPOUT_PARAMETERS, "train_fraction": TRAIN_FRACTION,
    **{f"{'model' if name in MODEL_PARAMETERS else 'training'}.{name}": rule
       for name, rule in PARAMETERS.items() if name != "random_state"},
    "cv.n_folds": _i(minimum=2), "cv.split": _c(options=SPLITS), "cv.sensitivity": _f(low=0, high=1, low_open=True),
    "directed": lambda n, v: None if v is None else check_flag(n, v),
    "data.negatives": _c(options=NEGATIVE_MODES), "data.max_tfs": _i(minimum=1, nullable=True),
    "magic.enabled": check_flag, **{f"magic.{name}": rule for name, rule in MAGIC_PARAMETERS.items()},
    "magic.preprocess": _c(options=PREPROCESS),
    "tracking.experiment": _TEXT, "tracking.run_name": _OPTIONAL_TEXT, "tracking.log_model": check_flag,
    "tracking.register_model": _OPTIONAL_TEXT, "paths.store": _TEXT, "paths.artifacts": _TEXT,
    "paths.cache": _TEXT, "paths.outputs": _TEXT, "paths.multirun": _TEXT,
}


#: a simulated kind's ``data.*`` keys are its simulator's parameters, checked by the simulator's own rules
SIMULATOR_RULES = {"sim": GRN_PARAMETERS, "sergio": SERGIO_PARAMETERS}


def check_data(data: dict) -> None:
    """Each ``data.*`` key of a simulated kind by its simulator's rule (``sim.grn.PARAMETERS``,
    ``sim.sergio.PARAMETERS``); a real-data kind's files are checked by reading them (``cli``)."""
    for name, rule in SIMULATOR_RULES.get(data.get("kind", "sim"), {}).items():
        if name in data:
            rule(f"data.{name}", data[name])


def _lookup(config, dotted: str):
    node = config
    for part in dotted.split("."):
        if not hasattr(node, "get") or part not in node:
            return False, None
        node = node[part]
    return True, node


def check_keys(config, keys: Optional[Iterable[str]] = None) -> None:
    """:data:`SCHEMA`'s check of each of ``keys`` (default: all) that ``config`` has."""
    for key in SCHEMA if keys is None else keys:
        found, value = _lookup(config, key)
        if found:
            SCHEMA[key](key, value)


def check_config(config, tasks=None) -> None:
    """Types and ranges of every key of the composed ``config`` (a ``DictConfig`` or dict) in one
    pass, plus the cross-key rules (neighbors vs the simulation's genes, min_epochs <= epochs,
    TF-aware folds vs TFs); ``ValueError`` with one line naming the first bad key."""
    from omegaconf import OmegaConf

    if not isinstance(config, dict):
        try:
            config = OmegaConf.to_container(config, resolve=True)
        except Exception as error:  # noqa: BLE001 - an interpolation that does not resolve
            raise ValueError(f"the config does not resolve: {str(error).splitlines()[0]}") from None
    if tasks is not None:
        check_choice("task", config.get("task"), sorted(tasks))
    check_keys(config)
    check_data(config.get("data") or {})
    training, data = config.get("training") or {}, config.get("data") or {}
    if isinstance(training.get("min_epochs"), int) and training.get("min_epochs", 0) > training.get("epochs", 1):
        raise ValueError(f"training.min_epochs={training['min_epochs']} must be <= training.epochs={training['epochs']}")
    if data.get("kind", "sim") in SIMULATED_KINDS and "n_genes" in data:  # sizes known from the config
        if config.get("method") in SUPERVISED and config.get("task", "cv") == "cv":
            neighbors(config.get("neighbors", 0), data["n_genes"], config.get("method"))
        if data.get("n_tfs", 0) >= data["n_genes"]:
            raise ValueError(f"data.n_tfs={data['n_tfs']} must be < data.n_genes={data['n_genes']}")
        n_folds = (config.get("cv") or {}).get("n_folds")
        if config.get("task", "cv") == "cv" and isinstance(n_folds, int) and n_folds > data.get("n_tfs", n_folds):
            raise ValueError(f"cv.n_folds={n_folds} TF-aware folds need at least {n_folds} TFs; data.n_tfs={data['n_tfs']}")
    check_memory(config)
    check_targets(config)
    inputs = (config.get("model") or {}).get("inputs", "all")
    if config.get("method") in SUPERVISED and (inputs == "target_only") != (config.get("method") == "target_only"):
        raise ValueError(f"model.inputs={inputs} with method={config.get('method')}: the target-only ablation is "
                         "method=target_only (it sets model.inputs=target_only); other methods use model.inputs=all")
    max_tfs, n_folds = data.get("max_tfs"), (config.get("cv") or {}).get("n_folds")
    if config.get("task", "cv") == "cv" and isinstance(max_tfs, int) and isinstance(n_folds, int) and max_tfs < n_folds:
        raise ValueError(f"data.max_tfs={max_tfs} is fewer than cv.n_folds={n_folds}: each TF-aware fold needs a TF")
    check_store(config.get("tracking", {}).get("uri"))
    if config.get("task") == "search":
        check_search_storage((config.get("search") or {}).get("storage"))


def check_memory(config: dict) -> None:
    """A simulated job's expression fits in memory (``data.n_cells * data.n_genes`` at most
    :data:`MAX_EXPRESSION_VALUES`): a billion cells is a line now, not an allocation error later."""
    data = config.get("data") or {}
    if data.get("kind", "sim") != "sim":
        return
    cells, genes = data.get("n_cells"), data.get("n_genes")
    if isinstance(cells, int) and isinstance(genes, int) and cells * genes > MAX_EXPRESSION_VALUES:
        raise ValueError(f"data.n_cells={cells} x data.n_genes={genes} = {cells * genes:.3g} values is beyond "
                         f"{MAX_EXPRESSION_VALUES:.0e} ({MAX_EXPRESSION_VALUES * 8 / 1e9:.1f} GB per copy); "
                         f"simulate fewer cells or genes")


def saved_model(folder: Path) -> dict:
    """A saved DeepDRIM model folder whose two files agree: ``deepdrim.json``'s ``n_neighbors`` and
    ``n_bins`` give the input shape ``model.keras`` declares ((2n+3 or 1, bins, bins)). Read without
    TensorFlow (the .keras file is a zip holding ``config.json``). Returns the saved params."""
    import json
    import zipfile

    folder = Path(folder)
    meta_file, keras_file = folder / "deepdrim.json", folder / "model.keras"
    if not meta_file.is_file() or not keras_file.is_file():
        raise ValueError(f"{folder} is not a saved DeepDRIM model (no deepdrim.json / model.keras)")
    try:
        params = json.loads(meta_file.read_text())["params"]
        n_neighbors, n_bins = int(params["n_neighbors"]), int(params.get("n_bins", 32))
    except Exception as error:  # noqa: BLE001 - bad JSON, a list, missing keys, a non-integer
        raise ValueError(f"{meta_file} is not a valid DeepDRIM model description ({type(error).__name__})") from None
    try:
        with zipfile.ZipFile(keras_file) as archive:
            described = json.loads(archive.read("config.json"))
    except Exception as error:  # noqa: BLE001 - not a zip, no config.json
        raise ValueError(f"{keras_file} is not a readable Keras model ({type(error).__name__})") from None
    shape = _input_shape(described)
    expected = [2 * n_neighbors + 3 if n_neighbors else 1, n_bins, n_bins]
    if shape is not None and list(shape[-3:]) != expected:
        raise ValueError(f"{folder}: the two files disagree: deepdrim.json says n_neighbors={n_neighbors}, "
                         f"n_bins={n_bins} (input {tuple(expected)}), model.keras takes input {tuple(shape[-3:])}; "
                         f"save the model again")
    return params


def _input_shape(described) -> Optional[list]:
    """The shape of the ``images`` input (``deepdrim.model.build_model``'s) in a Keras
    ``config.json``; None when it has none (the image towers' own inputs are not it)."""
    stack = [described]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            config = node.get("config") if isinstance(node.get("config"), dict) else {}
            if node.get("class_name") == "InputLayer" and config.get("name", node.get("name")) == "images":
                shape = config.get("batch_shape") or config.get("batch_input_shape")
                return shape if isinstance(shape, list) and len(shape) >= 3 else None
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None
