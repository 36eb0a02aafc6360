"""Moved to :mod:`experiments.tasks.fig1_ggm`; this name stays an alias of it for old imports."""
import sys

from experiments.tasks import fig1_ggm as _task

sys.modules[__name__] = _task
