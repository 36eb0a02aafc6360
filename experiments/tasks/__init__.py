"""The jobs ``python run.py task=<name>`` runs: one module per task, ``run(cfg, output_dir, overrides)``
returning its metrics. :data:`TASKS` is this folder's module list, so a new task is a new file."""
from __future__ import annotations

import pkgutil
from pathlib import Path

#: task name -> module path, one per module of this package
TASKS = {info.name: f"{__name__}.{info.name}" for info in pkgutil.iter_modules([str(Path(__file__).parent)])
         if not info.name.startswith("_")}
