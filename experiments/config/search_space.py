"""The search space of ``task=search``: ``search.space`` parsed into :class:`Param` s, written back
into a config (:func:`apply_params`) and into a ``python run.py`` command (:func:`rerun_command`).

Each entry is ``name: {path: config key it sets (default: the name), type: float|int|categorical,
low/high (+ log, step) or choices}``; every problem is a one-line ``ValueError``.
"""
from __future__ import annotations

import copy
import json
import shlex
from dataclasses import asdict, dataclass
from typing import Any

import optuna
from omegaconf import DictConfig, ListConfig, OmegaConf

KINDS = ("float", "int", "categorical")


@dataclass(frozen=True)
class Param:
    """One searched knob: Optuna name, the config path it sets, and its distribution."""

    name: str
    path: str
    kind: str
    low: Any = None
    high: Any = None
    log: bool = False
    step: Any = None
    choices: tuple = ()

    def suggest(self, trial: optuna.Trial):
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.name, self.low, self.high, step=self.step or 1, log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def extremes(self) -> list:
        """The values validated before the search starts (every choice, or both ends)."""
        return list(self.choices) if self.kind == "categorical" else [self.low, self.high]


def _number(where: str, key: str, value, kind: str):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where}: {key} must be a number, got {value!r}")
    if kind == "int" and not float(value).is_integer():
        raise ValueError(f"{where}: {key} must be an integer for type int, got {value!r}")
    return int(value) if kind == "int" else float(value)


def parse_space(space, cfg: DictConfig) -> list[Param]:
    """``search.space`` -> Params, checked against ``cfg`` (ValueError with a one-line message)."""
    if space is None or len(space) == 0:
        raise ValueError("search.space is empty: declare at least one parameter (see conf/search/optuna.yaml)")
    params = []
    for name, spec in space.items():
        where = f"search.space.{name}"
        if not isinstance(spec, (dict, DictConfig)):
            raise ValueError(f"{where} must be a mapping with type and low/high or choices, got {spec!r}")
        spec = dict(spec)
        path, kind = str(spec.get("path", name)), spec.get("type")
        if kind not in KINDS:
            raise ValueError(f"{where}: type must be one of {', '.join(KINDS)}, got {kind!r}")
        if OmegaConf.select(cfg, path, default="<missing>", throw_on_missing=False) == "<missing>":
            raise ValueError(f"{where}: path {path!r} is not a key of the configuration")
        if kind == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, (list, tuple, ListConfig)) or len(choices) == 0:
                raise ValueError(f"{where}: categorical needs a non-empty choices list")
            params.append(Param(str(name), path, kind, choices=tuple(choices)))
            continue
        if "low" not in spec or "high" not in spec:
            raise ValueError(f"{where}: type {kind} needs low and high")
        low, high = _number(where, "low", spec["low"], kind), _number(where, "high", spec["high"], kind)
        if low >= high:
            raise ValueError(f"{where}: low ({low}) must be < high ({high})")
        log, step = bool(spec.get("log", False)), spec.get("step")
        if log and low <= 0:
            raise ValueError(f"{where}: log scale needs low > 0, got {low}")
        if step is not None:
            step = _number(where, "step", step, kind)
            if step <= 0 or log:
                raise ValueError(f"{where}: step must be > 0 and cannot be combined with log")
        params.append(Param(str(name), path, kind, low, high, log, step))
    return params


def space_signature(params: list[Param]) -> str:
    """Canonical JSON of the space: stored on the study to refuse resuming it with another."""
    return json.dumps(sorted((asdict(p) for p in params), key=lambda p: p["name"]), sort_keys=True, default=list)


def apply_params(cfg: DictConfig, values: dict, params: list[Param]) -> DictConfig:
    """A copy of ``cfg`` with each searched value written at its path."""
    out = copy.deepcopy(cfg)
    for param in params:
        if param.name in values:
            OmegaConf.update(out, param.path, values[param.name], merge=False)
    return out


def epoch_stride(cfg: DictConfig, params: list[Param]) -> int:
    """Steps per fold in ``trial.report``: the largest number of epochs any trial can run."""
    for param in params:
        if param.path == "training.epochs":
            return int(max(param.extremes()))
    return int(cfg.training.epochs)


def format_value(value) -> str:
    """A value as a Hydra override writes it (floats exactly, lists in brackets, booleans lower case)."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple, ListConfig)):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    return str(value).lower() if isinstance(value, bool) else str(value)


def format_params(values: dict) -> str:
    """``name=value ...`` of a trial's values, as the trial lines and the search's summary print them."""
    return " ".join(f"{k}={format_value(v)}" for k, v in values.items())


def rerun_command(cfg: DictConfig, values: dict, params: list[Param], overrides: str) -> str:
    """``python run.py ...``: the user's own overrides (search ones dropped) plus the best values;
    a list element (``model.dense_units.0``) is written as the whole list."""
    paths = {}
    for param in params:
        head, _, tail = param.path.rpartition(".")
        key = head if tail.isdigit() else param.path
        paths[key] = OmegaConf.select(apply_params(cfg, values, params), key)
    kept = [o for o in overrides.split()
            if not o.lstrip("~+").startswith(("search", "task=", "hydra.")) and o.split("=")[0].lstrip("+~") not in paths]
    tokens = kept + [f"{key}={format_value(value)}" for key, value in paths.items()]
    return "python run.py " + " ".join(shlex.quote(t) for t in tokens)
