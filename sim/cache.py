"""Atomic cache files for the simulators' on-disk caches (MAGIC, SERGIO): a reader never sees a
partial file, and a killed writer leaves only a hidden temporary file behind."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Callable


def write_atomic(path: Path, write: Callable[[IO[bytes]], None], prefix: str) -> None:
    """``write(handle)`` into a temporary file beside ``path`` (``prefix`` names it), fsync, then
    ``os.replace`` it onto ``path``; on any error the temporary file is removed and the error raised."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=prefix, suffix=path.suffix + ".tmp", delete=False)
    try:
        with handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
