"""Atomic files (tables, text, figures) and the standard figures of a job (ROC and PR curves)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from deepdrim import plotting  # noqa: E402


def atomic_write(path: Path, write) -> Path:
    """Run ``write(tmp_path)`` then rename into ``path``: readers never see a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes owner-only files; results are meant to be shared
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def write_csv(frame: pd.DataFrame, path: Path, **kwargs) -> Path:
    return atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False, **kwargs))


def write_text(text: str, path: Path) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def save_figure(fig, path: Path) -> Path:
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png"))
    plt.close(fig)
    return path


def curve_figures(curves: dict[str, tuple[np.ndarray, np.ndarray]], out_dir: Path, title: str) -> list[Path]:
    """A job's ROC and PR curves (:func:`deepdrim.plotting.roc_pr`), saved as roc.png and pr.png."""
    fig_roc, fig_pr = plotting.roc_pr(curves, title)
    return [save_figure(fig_roc, out_dir / "roc.png"), save_figure(fig_pr, out_dir / "pr.png")]
