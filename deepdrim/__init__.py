"""DeepDRIM: gene-pair images (primary + neighbor images) and a siamese CNN for GRN inference.

A plain library: no Hydra, MLflow or simulator imports. ``DeepDRIM`` and ``build_model`` load
TensorFlow lazily, so ``import deepdrim.images`` stays light.
"""
from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {"DeepDRIM": "deepdrim.estimator", "build_model": "deepdrim.model"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'deepdrim' has no attribute {name!r}")


__all__ = ["DeepDRIM", "build_model", "__version__"]
