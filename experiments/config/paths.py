"""The project root, against which every relative path of a config is read (Hydra may run a job
from anywhere), and the targets its ``conf/`` ships."""
from __future__ import annotations

import functools
import re
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def project_path(value) -> Path:
    """``value`` as an absolute path, a relative one against the project root."""
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


@functools.lru_cache(maxsize=None)
def shipped_targets() -> frozenset:
    """Every ``_target_`` a config group of ``conf/`` names (``deepdrim.DeepDRIM``, ``sim.grn.grn_dataset``):
    the code a shipped option runs, which its other keys (``data.kind``) already name."""
    return frozenset(name for path in (PROJECT_ROOT / "conf").rglob("*.yaml")
                     for name in re.findall(r"^_target_:\s*(\S+)", path.read_text(), re.MULTILINE))
