"""The jobs ``python run.py task=<name>`` runs: one module per task, ``run(cfg, output_dir, overrides)``
returning its metrics. :data:`TASKS` is this folder's module list, so a new task is a new file;
:func:`run_task` is the one dispatch (run.py's, and a task's that runs another job, e.g. search's
best-on-test cv job), so no task imports another."""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

#: task name -> module path, one per module of this package
TASKS = {info.name: f"{__name__}.{info.name}" for info in pkgutil.iter_modules([str(Path(__file__).parent)])
         if not info.name.startswith("_")}


def run_task(name: str, cfg, output_dir: Path, overrides: str = "", **kwargs) -> dict[str, float]:
    """Run task ``name``'s job on ``cfg`` (``kwargs``: what that task's ``run`` takes, e.g. ``tags``);
    its metrics. A one-line ``ValueError`` for an unknown task."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known: {', '.join(TASKS)}")
    return importlib.import_module(TASKS[name]).run(cfg, output_dir, overrides, **kwargs)
