"""Did a fit learn anything? Flags for fits that must not be reported as results.

A network stuck on the loss plateau outputs (nearly) the same probability for every pair: its
training loss stays at the loss of a constant predictor, the binary entropy of the positive rate
(ln 2 = 0.693 for balanced classes), and its AUROC is 0.5 (or, pooled over folds that each
output their own constant, anything), which says nothing about the method. On real BEELINE data
(mDC) both DeepDRIM and CNNC sat at 0.693 for all 16 epochs and output one constant score per
fold. :func:`learning_failure` names such a fit; :class:`deepdrim.DeepDRIM` records it after
``fit`` (``learned_``, ``failure_``) and the CV job reports it instead of an AUROC.
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Iterator, Optional, Sequence

import numpy as np

#: scores whose standard deviation is at most this (probabilities) are one constant
CONSTANT_SCORE_STD = 1e-6
#: a training loss that never went more than this below the constant predictor's loss never
#: left the plateau (CNNC on real mHSC-L, AUROC 0.56, ended its three folds 0.020-0.086 below the
#: 0.650 plateau of its 64.5 % positive pairs; DeepDRIM's three stuck folds on real mDC, balanced
#: pairs, stayed between 0.6932 and 0.6952 for all 16 epochs)
PLATEAU_TOLERANCE = 0.005


class LearningFailureWarning(UserWarning):
    """A fit did not learn (its ``failure_`` says why). The cross-validations report it once per
    fold, with the fold's number, instead of this warning (:func:`reported_per_fold`)."""


@contextlib.contextmanager
def reported_per_fold() -> Iterator[None]:
    """A cross-validation's fit: its :class:`LearningFailureWarning` is left to the fold's own line."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LearningFailureWarning)
        yield


def constant_scores(scores, tol: float = CONSTANT_SCORE_STD) -> bool:
    """True when the finite ``scores`` are one value (std <= ``tol``), or there are none."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    scores = scores[np.isfinite(scores)]
    return bool(scores.size == 0 or scores.std() <= tol)


def plateau_loss(labels) -> float:
    """Log loss of the best constant predictor on 0/1 ``labels``: the binary entropy (nats) of
    their positive rate, ln 2 = 0.693 for balanced classes; 0 for a single class."""
    p = float(np.mean(np.asarray(labels, dtype=np.float64))) if np.size(labels) else 0.5
    if p <= 0.0 or p >= 1.0:
        return 0.0
    return float(-(p * np.log(p) + (1 - p) * np.log(1 - p)))


def learning_failure(losses: Sequence[float], labels, scores=None, *, tol: float = PLATEAU_TOLERANCE,
                     score_tol: float = CONSTANT_SCORE_STD) -> Optional[str]:
    """Why a fit did not learn, or None when it did.

    ``losses``: the training loss per epoch; ``labels``: the training labels (for the plateau's
    level, :func:`plateau_loss`); ``scores``: probabilities the fitted model gave to some pairs
    (None: not checked). A fit failed when those scores are constant (:func:`constant_scores`)
    or when no epoch's training loss went below the plateau by more than ``tol``.
    """
    if scores is not None and constant_scores(scores, score_tol):
        finite = np.asarray(scores, dtype=np.float64)
        finite = finite[np.isfinite(finite)]
        value = f"{finite.mean():.4f}" if finite.size else "none"
        return f"constant scores ({value} for every pair)"
    losses = np.asarray(list(losses), dtype=np.float64)
    losses = losses[np.isfinite(losses)]
    level = plateau_loss(labels)
    if losses.size and losses.min() > level - tol:
        return (f"training loss never left the {level:.3f} plateau (lowest {losses.min():.4f} over "
                f"{losses.size} epochs)")
    return None


__all__ = ["CONSTANT_SCORE_STD", "PLATEAU_TOLERANCE", "constant_scores", "plateau_loss", "learning_failure"]
