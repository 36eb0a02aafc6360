"""Old name of :mod:`deepdrim.dataset` (a Keras dataset), kept so existing imports work."""
from deepdrim.dataset import PairImageSequence

__all__ = ["PairImageSequence"]
