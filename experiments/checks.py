"""One check per concern, shared by the jobs and by the multirun's sweep check (``callbacks``):
each raises a one-line ``ValueError`` naming the knob, before anything runs or is written."""
from __future__ import annotations

from typing import Optional

from deepdrim.baselines import BASELINES

SUPERVISED = ("deepdrim", "cnnc")  # cnnc = DeepDRIM with the primary image only (conf/method/cnnc.yaml)
METHODS = SUPERVISED + tuple(BASELINES)


def integer(name: str, value, minimum: int) -> int:
    """``value`` as an int >= ``minimum`` (a bool is not an integer here)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def method(name) -> str:
    """A known method: DeepDRIM, CNNC or a baseline of ``deepdrim.baselines``."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; known: {', '.join(METHODS)}")
    return name


def neighbors(value, n_genes: Optional[int] = None, method_name: str = "deepdrim", minimum: int = 0) -> int:
    """``neighbors`` (n of the paper) fits the data: at most ``n_genes - 2`` other genes per gene;
    ``method=cnnc`` is DeepDRIM with neighbors=0, so any other value is a contradiction."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"neighbors must be an integer >= {minimum}, got {value!r}")
    if method_name == "cnnc" and value != 0:
        raise ValueError(f"method=cnnc is DeepDRIM with neighbors=0 (primary image only), got neighbors={value}; "
                         f"use method=deepdrim neighbors={value} (or sweep method=deepdrim neighbors=0,{value})")
    if value and n_genes is not None and value > n_genes - 2:
        raise ValueError(f"neighbors={value} needs at least {value + 2} genes; the data has {n_genes}")
    return value
