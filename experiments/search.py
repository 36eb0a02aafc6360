"""Moved to :mod:`experiments.tasks.search`; this name stays an alias of it for old imports."""
import sys

from experiments.tasks import search as _task

sys.modules[__name__] = _task
