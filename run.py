"""The one entry point: ``python run.py`` (default job) or ``python run.py -m neighbors=0,2,10``."""
from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

import hydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from experiments.tasks import TASKS  # noqa: E402 - task name -> module (experiments/tasks/<name>.py)


def run(cfg: DictConfig) -> dict:
    """Dispatch on ``task``; returns the job's metrics."""
    from pathlib import Path

    hydra_cfg = HydraConfig.get()
    output_dir = Path(hydra_cfg.runtime.output_dir)
    overrides = " ".join(hydra_cfg.overrides.task)
    if cfg.task not in TASKS:
        raise ValueError(f"unknown task {cfg.task!r}; known: {', '.join(TASKS)}")
    import importlib

    return importlib.import_module(TASKS[cfg.task]).run(cfg, output_dir, overrides)


def check_presets(argv: list[str]) -> None:
    """Exit with one line (status 2) when ``experiment=`` names a preset that does not exist;
    Hydra's own message is a multi-line config-search dump."""
    from pathlib import Path

    known = sorted(p.stem for p in (Path(__file__).resolve().parent / "conf" / "experiment").glob("*.yaml"))
    for arg in argv:
        key, _, value = arg.partition("=")
        if key.lstrip("+~") != "experiment" or not value or value == "null":
            continue
        for name in value.split(","):
            if name not in known:
                print(f"error: unknown experiment preset {name!r}; existing: {', '.join(known)}", file=sys.stderr)
                sys.exit(2)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    try:
        metrics = run(cfg)
    except ValueError as error:  # bad input: one line, no traceback
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    return float(metrics.get("auroc", float("nan")))


if __name__ == "__main__":
    check_presets(sys.argv[1:])
    main()
