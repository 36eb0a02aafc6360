"""The validation pass ``run.py`` makes before Hydra starts (so before any output folder, MLflow
run or cache file exists, and before MLflow is imported): the command line parsed (sweep syntax
Hydra's basic sweeper cannot run, a swept key given twice, a ``+key`` nothing reads), every job of a
``-m`` sweep composed with Hydra's compose API and checked against
:data:`experiments.config.checks.SCHEMA`, the folder Hydra will create, the tracking store and Optuna
storage checked without writing to them, a saved model's files, and a single job's real data read
and checked (a sweep's jobs check their own: a bad one fails alone). No TensorFlow, no training."""
from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Optional

from experiments.config import checks, store_checks

CONF = Path(__file__).resolve().parents[2] / "conf"
#: the primary config: its folder (``--config-path``, relative to run.py's folder) and name (``--config-name``)
PRIMARY = (str(CONF), "config")


def _first_line(error: BaseException) -> str:
    """The message's first line (Hydra's are multi-line); an unknown key is said so."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if lines and lines[0].startswith("Could not override '"):
        key = lines[0].split("'")[1]
        return f"unknown config key {key!r}: not in the composed config (a new key needs +{key}=...)"
    return lines[0] if lines else type(error).__name__


def _group_options(group: str) -> list[str]:
    """The options of a config group (``conf/<group>/*.yaml``); [] when ``group`` is not one."""
    folder = CONF / group.replace(".", "/")
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def _sweep_values(override) -> list[str]:
    """The values of one sweep override: a choice, range or glob of a config group's options. An
    interval is no list of values (a search space), a glob of a plain key matches nothing: both are
    one-line errors here (Hydra's basic sweeper raises a traceback on them)."""
    from hydra.core.override_parser.types import ValueType

    key, line = override.key_or_group, override.input_line
    if override.is_interval_sweep():
        raise ValueError(f"{line}: interval() is a search space, not a list of values: list them "
                         f"({key}=0,1,2 or range(0,3)), or search it with search=optuna (search.space)")
    if override.value_type == ValueType.GLOB_CHOICE_SWEEP:
        options = _group_options(key)
        if not options:
            raise ValueError(f"{line}: glob() picks options of a config group (method=glob(*)); {key} is not one")
        chosen = override.value().filter(options)
        if not chosen:
            raise ValueError(f"{line}: matches no option of {key} ({', '.join(options)})")
        return chosen
    return list(override.sweep_string_iterator())


def _axes(lines: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """Overrides split into plain ones and sweep axes (key -> its ``key=value`` strings); a swept key
    given twice, an interval sweep and a glob of a plain key are one-line errors."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser, parsed = OverridesParser.create(), []
    for line in lines:
        try:
            parsed += parser.parse_overrides([line])
        except Exception as error:  # noqa: BLE001 - Hydra's parse errors are multi-line
            raise ValueError(f"cannot parse {line!r}: {_first_line(error)}") from None
    seen: dict[str, tuple] = {}
    for line, override in zip(lines, parsed):
        key = override.key_or_group + (f"@{override.package}" if override.package else "")
        if key in seen and (override.is_sweep_override() or seen[key][1].is_sweep_override()):
            # Hydra keeps the last and silently drops the sweep; a plain value given twice is its documented last-wins
            raise ValueError(f"{override.key_or_group} is given twice ({seen[key][0]} and {line}): give it once "
                             f"(one list of values sweeps it: {override.key_or_group}=a,b,c)")
        seen[key] = (line, override)
        _check_added(override)
    plain, axes = [], {}
    for line, override in zip(lines, parsed):
        if not override.is_sweep_override():
            plain.append(line)
        else:
            key = override.get_key_element()
            axes[key] = [f"{key}={value}" for value in _sweep_values(override)]
    return plain, axes


@functools.lru_cache(maxsize=1)
def defined_keys() -> frozenset:
    """Every dotted key some file of ``conf/`` defines (at its package), and its parents: what a
    ``+key=`` may add besides the keys of :data:`experiments.config.checks.SCHEMA`."""
    from omegaconf import OmegaConf

    keys: set[str] = set()

    def walk(node, prefix: str) -> None:
        for name, value in node.items():
            if name == "defaults" and not prefix:
                continue
            dotted = f"{prefix}{name}"
            keys.add(dotted)
            if isinstance(value, dict):
                walk(value, dotted + ".")

    for path in sorted(CONF.rglob("*.yaml")):
        head = path.read_text().split("\n", 1)[0]
        group = path.parent.relative_to(CONF).as_posix()
        prefix = "" if "@package _global_" in head or group == "." else group.replace("/", ".") + "."
        loaded = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
        if isinstance(loaded, dict):
            walk(loaded, prefix)
    return frozenset(keys)


#: keys under which ``+name=...`` adds a free entry (a search parameter, Hydra's own settings)
OPEN_PREFIXES = ("hydra.", "search.space.")


def _check_added(override) -> None:
    """A ``+key=`` / ``++key=`` names a key something reads (the schema or a config file); a typo
    would otherwise run the defaults silently."""
    if not (override.is_add() or override.is_force_add()) or override.key_or_group.startswith(OPEN_PREFIXES):
        return
    key = override.key_or_group
    if key in checks.SCHEMA or _group_options(key) or key in defined_keys():
        return
    raise ValueError(f"unknown config key {key!r}: {override.input_line} adds a key nothing reads "
                     f"(known keys: the groups of conf/ and experiments/config/checks.py SCHEMA)")


def _compose(overrides: list[str], hydra: bool = False, primary: tuple = PRIMARY):
    from hydra import compose, initialize_config_dir, initialize_config_module

    folder, name = primary
    try:
        with (initialize_config_module(folder[len("pkg://"):].replace("/", "."), version_base="1.3")
              if folder.startswith("pkg://") else initialize_config_dir(folder, version_base="1.3")):
            return compose(name, overrides=overrides, return_hydra_config=hydra)
    except ValueError:
        raise
    except Exception as error:  # noqa: BLE001 - Hydra's composition errors: unknown keys, groups, types
        raise ValueError(_first_line(error)) from None


def jobs(overrides: list[str], multirun: bool = False, primary: tuple = PRIMARY) -> list:
    """The composed config of every job the command line gives (each swept value at least once: one
    job per value of each axis, the others at their first value; the preset's sweeper params too,
    with ``-m`` or a preset's ``hydra.mode: MULTIRUN``, which Hydra sweeps without ``-m``)."""
    from hydra.types import RunMode

    compose = functools.partial(_compose, primary=primary)
    plain, axes = _axes(overrides)
    if axes and not multirun:
        key = next(iter(axes))
        raise ValueError(f"{key} has several values ({', '.join(v.split('=', 1)[1] for v in axes[key])}): "
                         f"add -m to sweep them")
    first = {key: values[0] for key, values in axes.items() if values}
    base = compose([*plain, *first.values()], hydra=True)
    multirun = multirun or base.hydra.mode == RunMode.MULTIRUN
    check_output_folder(base, multirun)
    if multirun:  # a study preset's sweep (hydra.sweeper.params), unless the command line sets the key
        params = base.hydra.sweeper.get("params") or {}
        given = {line.split("=", 1)[0].lstrip("+~") for line in overrides}
        preset = [f"{k}={v}" for k, v in params.items() if k not in given]
        extra_plain, extra_axes = _axes(preset)
        plain += extra_plain
        axes.update(extra_axes)
        first.update({key: values[0] for key, values in extra_axes.items() if values})
        base = compose([*plain, *first.values()])
    else:  # the job's config as Hydra gives it to the job: without the hydra node
        from omegaconf import OmegaConf

        base = OmegaConf.masked_copy(base, [key for key in base if key != "hydra"])
    found = [base]
    for key, values in axes.items():
        for value in values[1:]:
            found.append(compose([*plain, *(value if k == key else v for k, v in first.items())]))
    return found


def check_output_folder(cfg, multirun: bool) -> None:
    """The folder Hydra will create for the job (``hydra.run.dir``, from ``paths.outputs``) or the
    multirun (``hydra.sweep.dir``, from ``paths.multirun``) can be created and written."""
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    try:
        folder = str(cfg.hydra.sweep.dir if multirun else cfg.hydra.run.dir)
    except Exception as error:  # noqa: BLE001 - an interpolation that does not resolve
        raise ValueError(f"{key} does not resolve: {_first_line(error)}") from None
    store_checks.writable_folder(key, folder)


def check_inputs(cfg, given: frozenset = frozenset()) -> None:
    """The input files a job reads exist (the job's own messages), so a missing one leaves no folder:
    ``data.path`` and the other files of a real-data kind, a local ``model_path`` of task=predict
    (its two files agreeing, and with ``neighbors`` when the command line sets it: ``given``)."""
    from experiments.config import data as job_data

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
        saved = checks.saved_model(folder)
        if "neighbors" in given and cfg.get("neighbors") != saved["n_neighbors"]:
            raise ValueError(f"neighbors={cfg.get('neighbors')}: the saved model {folder} was trained with "
                             f"neighbors={saved['n_neighbors']} and scores with it; drop neighbors= "
                             f"(or train a new model: task=predict without model_path)")


#: the tasks that read a job's data (task=compare and task=report read the store only)
DATA_TASKS = ("cv", "predict", "search", "direction")


def check_data(cfg) -> None:
    """The data's content (a real-data kind: parsed, labelled pairs built, the genes varying), so a
    malformed file is one line before Hydra creates a folder or MLflow is imported. The simulation
    is checked by its sizes (the schema); a sweep's jobs check their own data (one bad job fails alone)."""
    from omegaconf import OmegaConf

    from experiments.config import data as job_data

    import logging
    import warnings

    data = cfg.get("data") or {}
    if cfg.get("task", "cv") not in DATA_TASKS or data.get("kind", "sim") == "sim":
        return
    logging.disable(logging.WARNING)  # the job says its data's warnings once, in its own log
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            job_data.load(OmegaConf.to_container(data, resolve=True), int(cfg.get("seed", 0)))
    finally:
        logging.disable(logging.NOTSET)


def check_job(cfg, given: frozenset = frozenset()) -> None:
    """One composed job: the schema, cross-key rules, the store and the input files, ``cells``
    against the data's cells where known before loading; the GGM study's own check."""
    from experiments.config import degrade
    from experiments.tasks import TASKS

    checks.check_config(cfg, TASKS)
    check_inputs(cfg, given)
    degrade.check(cfg, degrade.data_cells(cfg))
    if cfg.get("task") == "fig1_ggm":
        from experiments.config import ggm

        ggm.check(cfg)
    if cfg.get("task") == "direction":
        from experiments.config.method import check_direction

        check_direction(cfg)


def _hydra_args(argv: list[str]):
    """``argv`` read by Hydra's own parser; None when Hydra runs no job for it (``--help``, ``--cfg``,
    ``--info``, ``--experimental-rerun``: no multirun; an unknown flag: Hydra's own usage line)."""
    import contextlib
    import io

    from hydra._internal.utils import get_args_parser

    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            args = get_args_parser().parse_args(argv)
    except SystemExit:  # --version, a bad flag: Hydra says it
        return None
    shows = args.help or args.hydra_help or args.cfg or args.shell_completion or args.info is not None
    return None if shows or args.experimental_rerun is not None else args


def validate(argv: list[str]) -> Optional[list]:
    """``ValueError`` (one line) for the first bad input of ``python run.py <argv>``; returns the
    composed jobs (of the primary config ``-cp``/``-cn`` name, with ``-cd``'s folder searched too), or
    None when Hydra runs no job for ``argv`` (:func:`_hydra_args`). A single job's data is read too."""
    args = _hydra_args(argv)
    if args is None:
        return None
    folder = args.config_path or PRIMARY[0]
    if not folder.startswith("pkg://"):
        folder = str((CONF.parent / folder).resolve())
    extra = [f"hydra.searchpath=[file://{Path(args.config_dir).resolve()}]"] if args.config_dir else []
    overrides = [*extra, *args.overrides]
    given = frozenset(line.split("=", 1)[0].lstrip("+~") for line in overrides)
    found = jobs(overrides, args.multirun, (folder, args.config_name or PRIMARY[1]))
    for cfg in found:
        check_job(cfg, given)
    if not args.multirun:
        check_data(found[0])
    return found


def validate_or_exit(argv: list[str]) -> None:
    """:func:`validate`, a bad input ending the process: ``error: <one line>``, exit status 2."""
    try:
        validate(argv)
    except ValueError as error:
        print(f"error: {_first_line(error)}", file=sys.stderr)
        sys.exit(2)
