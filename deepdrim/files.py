"""Atomic files: a reader sees the old file or the complete new one, never a half-written one, and
a writer killed midway leaves only a hidden temporary file. Every file the suite writes (tables,
figures, ranked edges, BEELINE folders, the simulators' caches, the tracking layer's artifacts)
goes through :func:`atomic_write`."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

import pandas as pd


def _umask() -> int:
    """This process's umask, read without setting it (``os.umask`` would change it for every thread
    meanwhile); 0o022 where /proc is not there to say."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        return 0o022


def atomic_write(path, write: Callable[[Path], None]) -> Path:
    """Run ``write(tmp)`` on a temporary file beside ``path`` (same suffix, so ``np.save`` and
    ``savefig`` keep their formats), flush it to disk, then ``os.replace`` it onto ``path``; on
    any error the temporary file is removed and the error raised. The file gets the usual
    permissions (0666 less the umask), not the temporary file's owner-only ones. Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_csv(frame: pd.DataFrame, path, **kwargs) -> Path:
    """``frame.to_csv`` without its index (``kwargs`` passed on), atomically."""
    return atomic_write(path, lambda tmp: frame.to_csv(tmp, **{"index": False, **kwargs}))


def write_text(text: str, path) -> Path:
    """``text`` into ``path``, atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def save_figure(fig, path) -> Path:
    """A matplotlib figure as a PNG (120 dpi, tight), atomically. A figure made through pyplot
    (Optuna's plots) stays open: its maker closes it."""
    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png"))


__all__ = ["atomic_write", "save_figure", "write_csv", "write_text"]
