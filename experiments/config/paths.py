"""The project root, against which every relative path of a config is read (Hydra may run a job
from anywhere)."""
from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def project_path(value) -> Path:
    """``value`` as an absolute path, a relative one against the project root."""
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path
