"""The validation pass ``run.py`` makes before Hydra starts (so before any output folder, MLflow
run or cache file exists): the command line parsed, every job of a ``-m`` sweep composed with
Hydra's compose API and checked against :data:`experiments.checks.SCHEMA`, the tracking store
checked without writing to it. Light: no TensorFlow, no training, no data loaded."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

from experiments import checks

CONF = Path(__file__).resolve().parents[1] / "conf"
MULTIRUN = ("-m", "--multirun")


def _first_line(error: BaseException) -> str:
    """The message's first line (Hydra's are multi-line); an unknown key is said so."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if lines and lines[0].startswith("Could not override '"):
        key = lines[0].split("'")[1]
        return f"unknown config key {key!r}: not in the composed config (a new key needs +{key}=...)"
    return lines[0] if lines else type(error).__name__


def _axes(lines: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """Overrides split into plain ones and sweep axes (key -> its ``key=value`` strings); an
    interval sweep (a search space) is not enumerable and left to its sweeper."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser, parsed = OverridesParser.create(), []
    for line in lines:
        try:
            parsed += parser.parse_overrides([line])
        except Exception as error:  # noqa: BLE001 - Hydra's parse errors are multi-line
            raise ValueError(f"cannot parse {line!r}: {_first_line(error)}") from None
    plain, axes = [], {}
    for line, override in zip(lines, parsed):
        if not override.is_sweep_override():
            plain.append(line)
        elif not override.is_interval_sweep():
            key = override.get_key_element()
            axes[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
    return plain, axes


def _compose(overrides: list[str], hydra: bool = False):
    from hydra import compose, initialize_config_dir

    try:
        with initialize_config_dir(str(CONF), version_base="1.3"):
            return compose("config", overrides=overrides, return_hydra_config=hydra)
    except ValueError:
        raise
    except Exception as error:  # noqa: BLE001 - Hydra's composition errors: unknown keys, groups, types
        raise ValueError(_first_line(error)) from None


def jobs(overrides: list[str], multirun: bool = False) -> list:
    """The composed config of every job the command line gives (each swept value at least once: one
    job per value of each axis, the others at their first value; the preset's sweeper params too)."""
    plain, axes = _axes(overrides)
    if axes and not multirun:
        key = next(iter(axes))
        raise ValueError(f"{key} has several values ({', '.join(v.split('=', 1)[1] for v in axes[key])}): "
                         f"add -m to sweep them")
    first = {key: values[0] for key, values in axes.items() if values}
    base = _compose([*plain, *first.values()], hydra=multirun)
    if multirun:  # a study preset's sweep (hydra.sweeper.params), unless the command line sets the key
        params = base.hydra.sweeper.get("params") or {}
        given = {line.split("=", 1)[0].lstrip("+~") for line in overrides}
        preset = [f"{k}={v}" for k, v in params.items() if k not in given]
        extra_plain, extra_axes = _axes(preset)
        plain += extra_plain
        axes.update(extra_axes)
        first.update({key: values[0] for key, values in extra_axes.items() if values})
        base = _compose([*plain, *first.values()])
    found = [base]
    for key, values in axes.items():
        for value in values[1:]:
            found.append(_compose([*plain, *(value if k == key else v for k, v in first.items())]))
    return found


def check_inputs(cfg) -> None:
    """The input files a job reads exist (the job's own messages), so a missing one leaves no folder:
    ``data.path`` and the other files of a real-data kind, a local ``model_path`` of task=predict."""
    from experiments import data as job_data

    data = cfg.get("data") or {}
    kind = data.get("kind", "sim")
    if kind == "beeline":
        folder = job_data.resolve_path(data.get("path"), "path", kind)
        if not folder.is_dir():
            raise ValueError(f"BEELINE folder not found: {folder}")
    elif kind in ("h5ad", "reference"):
        for key, required in (("path", True), ("network", kind == "h5ad"), ("pairs", kind == "reference"),
                              ("divide", False)):
            path = job_data.resolve_path(data.get(key), key, kind, required) if key in data or required else None
            if path is not None and not path.is_file():
                raise ValueError(f"data.{key} file not found: {path}")
    model_path = cfg.get("model_path")
    if cfg.get("task") == "predict" and model_path and ":/" not in str(model_path):  # runs:/, models:/ later
        folder = job_data.resolve_path(model_path, "model_path", "predict")
        if not (folder / "deepdrim.json").is_file() or not (folder / "model.keras").is_file():
            raise ValueError(f"{folder} is not a saved DeepDRIM model (no deepdrim.json / model.keras)")


def check_cells(cfg) -> None:
    """An integer ``cells`` count is at most the data's cells where that is known without loading
    it (a simulator's ``data.n_cells``, a BEELINE folder's header): ``experiments.degrade``."""
    from omegaconf import OmegaConf

    from experiments import degrade

    cells = cfg.get("cells")
    if cells is None or cfg.get("task", "cv") != "cv":
        return
    n_cells = degrade.data_cells(OmegaConf.to_container(cfg.data, resolve=True) if cfg.get("data") else {})
    if n_cells is not None:
        degrade.cell_count(cells, n_cells)


def check_job(cfg) -> None:
    """One composed job: the schema, cross-key rules, the store and the input files; the GGM
    study's own check."""
    from experiments.tasks import TASKS

    checks.check_config(cfg, TASKS)
    check_inputs(cfg)
    check_cells(cfg)
    if cfg.get("task") == "fig1_ggm":
        from experiments.tasks import fig1_ggm

        fig1_ggm.check(cfg)


def validate(argv: list[str]) -> Optional[list]:
    """``ValueError`` (one line) for the first bad input of ``python run.py <argv>``; returns the
    composed jobs, or None when ``argv`` holds a Hydra flag other than ``-m`` (``--help``, ``--cfg``):
    Hydra handles those itself and writes nothing."""
    if any(arg.startswith("-") and arg not in MULTIRUN for arg in argv):
        return None
    multirun = any(arg in MULTIRUN for arg in argv)
    found = jobs([arg for arg in argv if arg not in MULTIRUN], multirun)
    for cfg in found:
        check_job(cfg)
    return found


def validate_or_exit(argv: list[str]) -> None:
    """:func:`validate`, a bad input ending the process: ``error: <one line>``, exit status 2."""
    try:
        validate(argv)
    except ValueError as error:
        print(f"error: {_first_line(error)}", file=sys.stderr)
        sys.exit(2)
