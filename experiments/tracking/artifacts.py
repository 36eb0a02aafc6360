"""Atomic files and the standard figures of a job (ROC and PR curves)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import precision_recall_curve, roc_curve  # noqa: E402


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
    """ROC and PR curves, one line per named (labels, scores), saved as roc.png and pr.png."""
    fig_roc, ax_roc = plt.subplots(figsize=(4.5, 4.2))
    fig_pr, ax_pr = plt.subplots(figsize=(4.5, 4.2))
    for name, (labels, scores) in curves.items():
        fpr, tpr, _ = roc_curve(labels, scores)
        precision, recall, _ = precision_recall_curve(labels, scores)
        ax_roc.plot(fpr, tpr, label=name)
        ax_pr.plot(recall, precision, label=name)
    ax_roc.plot([0, 1], [0, 1], ls=":", c="grey", lw=1)
    ax_roc.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC - {title}")
    base = float(np.mean(next(iter(curves.values()))[0])) if curves else 0.5
    ax_pr.axhline(base, ls=":", c="grey", lw=1)
    ax_pr.set(xlabel="recall", ylabel="precision", title=f"PR - {title}", ylim=(0, 1.02))
    for ax in (ax_roc, ax_pr):
        ax.legend(fontsize=8, loc="lower right")
    return [save_figure(fig_roc, out_dir / "roc.png"), save_figure(fig_pr, out_dir / "pr.png")]
