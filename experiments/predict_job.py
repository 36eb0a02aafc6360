"""Moved to :mod:`experiments.tasks.predict`; this name stays an alias of it for old imports."""
import sys

from experiments.tasks import predict as _task

sys.modules[__name__] = _task
