"""Moved to :mod:`experiments.tasks.cv`; this name stays an alias of it for old imports."""
import sys

from experiments.tasks import cv as _task

sys.modules[__name__] = _task
