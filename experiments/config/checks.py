"""One check per concern, shared by the jobs and by the multirun's sweep check (``callbacks``):
each raises a one-line ``ValueError`` naming the knob, before anything runs or is written."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from deepdrim.baselines import BASELINES
from deepdrim.choices import (BATCH_ORDERS, INPUTS, MONITORS, N_BINS_RANGE, NEGATIVE_MODES, NEIGHBOR_SCORES,
                              NEIGHBOR_VALUES, OPTIMIZERS, PRECISIONS, SPLITS, TRANSFORMS)
from sim.grn import DROPOUT_MODELS, IN_DEGREE_MODELS
from sim.sergio import ENGINES as SERGIO_ENGINES
from sim.sergio import NETWORKS as SERGIO_NETWORKS

from experiments.config.store_checks import check_search_storage, check_store

# cnnc = DeepDRIM with the primary image only (conf/method/cnnc.yaml); target_only = DeepDRIM fed
# only the target gene's images, an ablation (conf/method/target_only.yaml, model.inputs=target_only)
SUPERVISED = ("deepdrim", "cnnc", "target_only")
METHODS = SUPERVISED + tuple(BASELINES)


def integer(name: str, value, minimum: int) -> int:
    """``value`` as an int >= ``minimum`` (a bool is not an integer here): :func:`number`."""
    return number(name, value, minimum, integer_only=True)


def method(name) -> str:
    """A known method: DeepDRIM, CNNC or a baseline of ``deepdrim.baselines``."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; known: {', '.join(METHODS)}")
    return name


def neighbors(value, n_genes: Optional[int] = None, method_name: str = "deepdrim", minimum: int = 0) -> int:
    """``neighbors`` (n of the paper) fits the data: at most ``n_genes - 2`` other genes per gene;
    ``method=cnnc`` is DeepDRIM with neighbors=0, so any other value is a contradiction."""
    integer("neighbors", value, minimum)
    if method_name == "cnnc" and value != 0:
        raise ValueError(f"method=cnnc is DeepDRIM with neighbors=0 (primary image only), got neighbors={value}; "
                         f"use method=deepdrim neighbors={value} (or sweep method=deepdrim neighbors=0,{value})")
    if method_name == "target_only" and value == 0:
        raise ValueError("method=target_only feeds the target's self and neighbor images: it needs neighbors >= 1, "
                         "got neighbors=0")
    if value and n_genes is not None and value > n_genes - 2:
        raise ValueError(f"neighbors={value} needs at least {value + 2} genes; the data has {n_genes}")
    return value


# --- the whole composed config, checked once before anything is written (run.py's validation pass)
# Choices and ranges are the library's (deepdrim.choices, sim.grn, sim.sergio: none imports TensorFlow)
#: above this the optimizer diverges on any data (weights NaN, every score equal, AUROC 0.5)
MAX_LEARNING_RATE = 1
#: cells x genes of a simulated job: 5e7 values are 400 MB per float64 copy, and the job holds several
MAX_EXPRESSION_VALUES = 50_000_000


def _describe(low, high, low_open, high_open, integer_only) -> str:
    kind = "an integer" if integer_only else "a number"
    if low is not None and high is not None:
        return f"{kind} in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f"{kind} {'>' if low_open else '>='} {low}"
    if high is not None:
        return f"{kind} {'<' if high_open else '<='} {high}"
    return kind


def number(name: str, value, low=None, high=None, *, integer_only: bool = False, low_open: bool = False,
           high_open: bool = False, nullable: bool = False):
    """``value`` as a number (an int for ``integer_only``) within the bounds; a bool or a string is
    not a number. ``ValueError`` naming ``name`` and the expected range otherwise."""
    if value is None and nullable:
        return None
    kinds = (int,) if integer_only else (int, float)
    ok = not isinstance(value, bool) and isinstance(value, kinds)
    if ok and not integer_only:
        ok = value == value and abs(value) != float("inf")  # NaN and inf are not values of a knob
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        expected = _describe(low, high, low_open, high_open, integer_only) + (" or null" if nullable else "")
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return value


def choice(name: str, value, options) -> str:
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(str, options))}, got {value!r}")
    return value


def flag(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


def text(name: str, value, nullable: bool = False):
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string{' or null' if nullable else ''}, got {value!r}")
    return value


def int_list(name: str, value, minimum: int = 1) -> list:
    """A non-empty list of integers >= ``minimum`` (``model.conv_filters=[8,16]``)."""
    items = list(value) if isinstance(value, (list, tuple)) or type(value).__name__ == "ListConfig" else None
    if not items or any(isinstance(v, bool) or not isinstance(v, int) or v < minimum for v in items):
        raise ValueError(f"{name} must be a non-empty list of integers >= {minimum}, got {value!r}")
    return items


def _i(low, high=None, **kw):
    return lambda name, v: number(name, v, low, high, integer_only=True, **kw)


def _f(low=None, high=None, **kw):
    return lambda name, v: number(name, v, low, high, **kw)


def _c(*options):
    return lambda name, v: choice(name, v, options)


_FLAG = flag
_TEXT = text
#: dotted key -> check(name, value); a key absent from the composed config is not checked (groups
#: differ: data=sim has n_cells, data=beeline has path). Unknown keys are Hydra's to refuse.
SCHEMA = {
    "seed": _i(0, 2**32 - 1), "neighbors": _i(0), "force": _FLAG, "method": lambda n, v: method(v),
    "study": lambda n, v: text(n, v, nullable=True), "model_path": lambda n, v: text(n, v, nullable=True),
    "cells": lambda n, v: _cells(v), "drop_prob": _f(0, 1), "drop_cutoff": _f(0, 1),
    "train_fraction": _f(0, 1, low_open=True),
    "model.n_neighbors": _i(0), "model.n_bins": _i(*N_BINS_RANGE), "model.neighbor_score": _c(*NEIGHBOR_SCORES),
    "model.transform": _c(*TRANSFORMS), "model.neighbor_values": _c(*NEIGHBOR_VALUES), "model.conv_filters": int_list, "model.embedding": _i(1),
    "model.conv_dropout": _f(0, 1, high_open=True), "model.dense_units": int_list,
    "model.dense_dropout": _f(0, 1, high_open=True), "model.inputs": _c(*INPUTS),
    "training.epochs": _i(1), "training.min_epochs": _i(0), "training.batch_size": _i(1),
    "training.optimizer": _c(*OPTIMIZERS), "training.learning_rate": _f(0, MAX_LEARNING_RATE, low_open=True),
    "training.patience": _i(0), "training.momentum": _f(0, 1), "training.nesterov": _FLAG,
    "training.lr_decay": _f(0), "training.validation_fraction": _f(0, 1, high_open=True),
    "training.monitor": _c(*MONITORS), "training.verbose": _i(0, 2),
    "training.batch_order": _c(*BATCH_ORDERS), "training.precision": _c(*PRECISIONS),
    "training.steps_per_epoch": _i(1, nullable=True), "training.max_validation_pairs": _i(1, nullable=True),
    "training.plateau_validation": _FLAG,
    "cv.n_folds": _i(2), "cv.split": _c(*SPLITS), "cv.sensitivity": _f(0, 1, low_open=True),
    "directed": lambda n, v: None if v is None else flag(n, v),
    "data.n_tfs": _i(1), "data.n_genes": _i(3), "data.n_cells": _i(2), "data.n_master": _i(1),
    "data.regulators_per_gene": lambda n, v: int_list(n, v, 0), "data.repression_fraction": _f(0, 1),
    "data.confounder_fraction": _f(0, 1), "data.noise_sd": _f(0), "data.mean_depth": _f(0, low_open=True),
    "data.library_sd": _f(0), "data.dispersion": _f(0, low_open=True), "data.negatives": _c(*NEGATIVE_MODES),
    "data.dropout_midpoint": _f(), "data.dropout_slope": _f(0),
    "data.max_tfs": _i(1, nullable=True),
    "data.dropout": _c(*DROPOUT_MODELS), "data.in_degree": _c(*IN_DEGREE_MODELS),
    "data.grn": _c(*SERGIO_NETWORKS), "data.n_cell_types": _i(1), "data.hill_n": _f(0, low_open=True),
    "data.decay": _f(0, low_open=True), "data.noise_s": _f(0), "data.safety_iter": _i(0), "data.scale_iter": _i(1),
    "data.dt": _f(0, low_open=True), "data.outlier_prob": _f(0, 1), "data.outlier_mean": _f(),
    "data.outlier_scale": _f(0), "data.library_mean": _f(nullable=True), "data.library_scale": _f(0),
    "data.dropout_shape": _f(0, low_open=True), "data.dropout_percentile": _f(0, 100, nullable=True),
    "data.umi": _FLAG, "data.engine": _c(*SERGIO_ENGINES),
    "magic.enabled": _FLAG, "magic.knn": _i(1), "magic.decay": _f(0, low_open=True), "magic.t": _i(1),
    "magic.n_pca": _i(1), "magic.preprocess": _c("auto", "counts", "none"),
    "tracking.experiment": _TEXT, "tracking.run_name": lambda n, v: text(n, v, nullable=True),
    "tracking.log_model": _FLAG, "tracking.register_model": lambda n, v: text(n, v, nullable=True),
    "paths.store": _TEXT, "paths.artifacts": _TEXT, "paths.cache": _TEXT, "paths.outputs": _TEXT,
    "paths.multirun": _TEXT,
}


def _cells(value) -> None:
    from experiments.config.degrade import check_cells  # an integer count >= 2, a fraction in (0, 1] or null

    check_cells(value)


def _lookup(config, dotted: str):
    node = config
    for part in dotted.split("."):
        if not hasattr(node, "get") or part not in node:
            return False, None
        node = node[part]
    return True, node


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
        choice("task", config.get("task"), sorted(tasks))
    for key, check in SCHEMA.items():
        found, value = _lookup(config, key)
        if found:
            check(key, value)
    training, data = config.get("training") or {}, config.get("data") or {}
    if isinstance(training.get("min_epochs"), int) and training.get("min_epochs", 0) > training.get("epochs", 1):
        raise ValueError(f"training.min_epochs={training['min_epochs']} must be <= training.epochs={training['epochs']}")
    if data.get("kind", "sim") in ("sim", "sergio") and "n_genes" in data:  # sizes known from the config
        if config.get("method") in SUPERVISED and config.get("task", "cv") == "cv":
            neighbors(config.get("neighbors", 0), data["n_genes"], config.get("method"))
        if data.get("n_tfs", 0) >= data["n_genes"]:
            raise ValueError(f"data.n_tfs={data['n_tfs']} must be < data.n_genes={data['n_genes']}")
        n_folds = (config.get("cv") or {}).get("n_folds")
        if config.get("task", "cv") == "cv" and isinstance(n_folds, int) and n_folds > data.get("n_tfs", n_folds):
            raise ValueError(f"cv.n_folds={n_folds} TF-aware folds need at least {n_folds} TFs; data.n_tfs={data['n_tfs']}")
        cells = config.get("cells")
        if isinstance(cells, int) and not isinstance(cells, bool) and isinstance(data.get("n_cells"), int) \
                and cells > data["n_cells"]:
            raise ValueError(f"cells={cells} is larger than the data ({data['n_cells']} cells)")
    check_sizes(config)
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


def check_sizes(config: dict) -> None:
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
