"""Optuna storage that several worker processes or machines share: an RDB URL (PostgreSQL/MySQL
for a cluster, sqlite on one machine) or a journal file on a shared filesystem (no database)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Union

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

from experiments.config.store_checks import JOURNAL_SUFFIXES


def is_journal(url_or_path: Union[str, Path]) -> bool:
    """True for a journal-file path (``*.log`` / ``*.journal``, no URL scheme)."""
    text = str(url_or_path)
    return "://" not in text and text.endswith(JOURNAL_SUFFIXES)


def optuna_storage(url_or_path: Union[str, Path], *, open_lock: bool = False, **rdb_kwargs) -> BaseStorage:
    """``RDBStorage(url, **rdb_kwargs)`` for a database URL (``sqlite:///``, ``postgresql://``
    ...: heartbeats and ``RetryFailedTrialCallback`` go in ``rdb_kwargs``), or a
    ``JournalStorage`` over a ``JournalFileBackend`` for a ``.log`` path (created with its folder;
    ``open_lock=True`` uses ``open(O_EXCL)`` locks for filesystems without symlinks)."""
    text = str(url_or_path).strip()
    if not text:
        raise ValueError("storage must be a database URL or a journal .log path, got an empty string")
    if is_journal(text):
        if rdb_kwargs:
            raise ValueError(f"journal storage takes no {', '.join(sorted(rdb_kwargs))} (RDB storage options)")
        path = Path(text).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = JournalFileOpenLock(str(path)) if open_lock else None
        return JournalStorage(JournalFileBackend(str(path), lock_obj=lock))
    if "://" not in text:
        raise ValueError(f"storage must be a database URL (sqlite:///..., postgresql://...) or a journal "
                         f".log path, got {text!r}")
    return _rdb_storage(text, rdb_kwargs)


def _rdb_storage(url: str, rdb_kwargs: dict, attempts: int = 10) -> RDBStorage:
    """``RDBStorage``, retried when workers starting together race to create its tables (one
    wins; the others see the schema's unique-key or lock error and then find the tables made)."""
    from sqlalchemy.exc import IntegrityError, OperationalError

    for attempt in range(attempts - 1):
        try:
            return RDBStorage(url, **rdb_kwargs)
        except (IntegrityError, OperationalError):
            time.sleep(0.2 * (attempt + 1))
    return RDBStorage(url, **rdb_kwargs)


def load_or_create_study(storage: BaseStorage, study_name: str, **create_kwargs) -> optuna.Study:
    """The study ``study_name`` in ``storage``, created by whichever worker comes first."""
    return optuna.create_study(study_name=study_name, storage=storage, load_if_exists=True, **create_kwargs)
