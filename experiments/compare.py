"""Moved to :mod:`experiments.tasks.compare`; this name stays an alias of it for old imports."""
import sys

from experiments.tasks import compare as _task

sys.modules[__name__] = _task
