"""Moved to :mod:`experiments.tasks.report`; an alias of it, and ``python -m experiments.report`` still works."""
import sys

from experiments.tasks import report as _task

if __name__ == "__main__":
    sys.exit(_task.main())
sys.modules[__name__] = _task
