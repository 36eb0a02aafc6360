"""Which gene regulates which: the three-class problem of CNNC and the reference (0: no edge,
1: a -> b, 2: b -> a) on pairs of two TFs, solved as two binary pair classifiers.

``existence`` scores "an edge either way" on every pair; ``direction`` scores "a -> b rather than
b -> a" and is trained on true edges only. Their product is the three-class probability
(:func:`three_class_proba`): P(none) = 1 - e, P(a -> b) = e * f, P(b -> a) = e * (1 - f). Two
heads let one model's existence meet another's direction (the paper's DeepDRIM + CNNC combined
model: :class:`DirectionClassifier` with a DeepDRIM existence and a CNNC direction).

Pairs (:func:`directed_pairs`) hold every unordered TF pair in both orientations, (a, b) and
(b, a) with swapped classes, so forward and reverse are exactly balanced and the image's
orientation is the only thing that tells them apart; folds (:func:`direction_folds`) keep both
orientations of a pair on one side, so no test pair's transposed image is trained on.

    >>> pairs = directed_pairs(tfs, genes, edges, random_state=0)
    >>> model = DirectionClassifier(DeepDRIM(n_neighbors=10), DeepDRIM(n_neighbors=0)).fit(counts, pairs.pairs, pairs.classes)
    >>> model.predict_proba(test_pairs)  # (P, 3): none, a -> b, b -> a
"""
from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from typing import Union

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from tqdm.auto import tqdm

from deepdrim.baselines import BASELINES
from deepdrim.cv import Fold, make_folds
from deepdrim.diagnostics import constant_scores, reported_per_fold
from deepdrim.evaluation import link_probabilities
from deepdrim.metrics import auprc, auroc, false_positives_at_sensitivity
from deepdrim.pairs import _as_indices

log = logging.getLogger(__name__)
CLASSES = ("none", "forward", "reverse")
#: the class of (b, a) given the class of (a, b)
SWAPPED = np.array([0, 2, 1])


@dataclass
class DirectedPairs:
    """Ordered TF pairs (P, 2) and their classes (P,) 0 none / 1 a -> b / 2 b -> a; rows 2k and
    2k + 1 are one unordered pair in its two orientations. ``n_mutual``: unordered TF pairs with
    edges both ways, left out (they have no single class)."""

    pairs: np.ndarray
    classes: np.ndarray
    n_mutual: int = 0

    def __len__(self) -> int:
        return len(self.classes)


def directed_pairs(tfs, genes, edges, random_state=None) -> DirectedPairs:
    """Every TF pair with an edge one way (class 1 or 2 as oriented) and as many TF pairs with no
    edge either way (class 0, drawn by ``random_state``), each in both orientations.

    ``genes``: gene names (or an int count); ``tfs`` and ``edges`` (regulator, target) name genes or
    are indices. Edges touching a non-TF are ignored: a pair's direction is only a question when
    both genes can regulate (with a non-TF the answer is its identity). Balanced existence (half the
    unordered pairs have an edge) matches the binary task's negatives."""
    names = list(range(genes)) if isinstance(genes, (int, np.integer)) else list(genes)
    index = {name: i for i, name in enumerate(names)}
    tf_idx = np.unique(_as_indices(tfs, index, "tfs"))
    edge_idx = _as_indices(edges, index, "edges").reshape(-1, 2)
    position = np.full(len(names), -1)
    position[tf_idx] = np.arange(len(tf_idx))
    between = edge_idx[(position[edge_idx[:, 0]] >= 0) & (position[edge_idx[:, 1]] >= 0)
                       & (edge_idx[:, 0] != edge_idx[:, 1])]
    is_edge = np.zeros((len(tf_idx), len(tf_idx)), dtype=bool)
    is_edge[position[between[:, 0]], position[between[:, 1]]] = True
    upper_a, upper_b = np.triu_indices(len(tf_idx), k=1)
    forward, reverse = is_edge[upper_a, upper_b], is_edge[upper_b, upper_a]
    one_way = forward ^ reverse
    none = np.flatnonzero(~forward & ~reverse)
    rng = np.random.default_rng(random_state)
    chosen = np.sort(rng.choice(none, size=min(int(one_way.sum()), len(none)), replace=False))
    keep = np.sort(np.concatenate([np.flatnonzero(one_way), chosen]))
    first = np.stack([tf_idx[upper_a[keep]], tf_idx[upper_b[keep]]], axis=1)
    classes = np.where(forward[keep] & ~reverse[keep], 1, np.where(one_way[keep], 2, 0))
    pairs = np.stack([first, first[:, ::-1]], axis=1).reshape(-1, 2)
    both = np.stack([classes, SWAPPED[classes]], axis=1).reshape(-1)
    return DirectedPairs(pairs.astype(np.int64), both.astype(np.int64), int((forward & reverse).sum()))


def direction_folds(pairs, n_folds: int = 3, split: str = "tf", random_state=None) -> list[Fold]:
    """:func:`deepdrim.cv.make_folds` on each unordered pair: (a, b) and (b, a) share a fold, so the
    transposed image of a test pair is never trained on. ``split="tf"`` groups the pairs by one of
    their genes, the first in a seeded random order of the genes (not gene index: a simulator that
    numbers regulators first would turn the grouping into a direction cue); ``"strict"`` keeps every
    gene on one side."""
    pairs = np.asarray(pairs)
    rank = np.random.default_rng([0 if random_state is None else int(random_state), 0xD1]).permutation(
        int(pairs.max(initial=-1)) + 1)
    first = rank[pairs[:, 0]] < rank[pairs[:, 1]]
    ordered = np.where(first[:, None], pairs, pairs[:, ::-1])
    return make_folds(ordered, n_folds, split, random_state)


def three_class_proba(existence, forward) -> np.ndarray:
    """(P, 3) probabilities none / a -> b / b -> a from P(edge) and P(a -> b | edge)."""
    existence = np.asarray(existence, dtype=np.float64)
    forward = np.asarray(forward, dtype=np.float64)
    return np.stack([1.0 - existence, existence * forward, existence * (1.0 - forward)], axis=1)


def _check_classes(pairs, classes) -> tuple[np.ndarray, np.ndarray]:
    pairs = np.asarray(pairs)
    classes = np.asarray(classes)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or classes.shape != (len(pairs),):
        raise ValueError(f"pairs must be (P, 2) with one class each, got pairs {pairs.shape} and classes {classes.shape}")
    if not np.isin(classes, (0, 1, 2)).all():
        raise ValueError("classes must be 0 (no edge), 1 (a -> b) or 2 (b -> a)")
    for what, present in (("no-edge (0)", classes == 0), ("a -> b (1)", classes == 1), ("b -> a (2)", classes == 2)):
        if not present.any():
            raise ValueError(f"classes hold no {what} pair: existence and direction each need both of their classes")
    return pairs, classes


class DirectionClassifier(BaseEstimator):
    """Three classes from two binary pair classifiers (DeepDRIM estimators or anything with
    ``fit(expression, pairs, labels)`` / ``predict_proba(pairs)``): ``existence`` on every pair,
    ``direction`` on the true edges (label 1 = a -> b). None means ``DeepDRIM()``. After ``fit``:
    ``existence_`` and ``direction_`` are the fitted clones."""

    def __init__(self, existence=None, direction=None):
        self.existence = existence
        self.direction = direction

    def _template(self, estimator):
        if estimator is None:
            from deepdrim.estimator import DeepDRIM

            return DeepDRIM()
        return estimator

    def fit(self, expression, pairs, classes) -> "DirectionClassifier":
        """Fit existence on all pairs (class > 0) and direction on the pairs with an edge (class 1)."""
        pairs, classes = _check_classes(pairs, classes)
        edge = classes > 0
        self.existence_ = clone(self._template(self.existence)).fit(expression, pairs, edge.astype(np.int64))
        self.direction_ = clone(self._template(self.direction)).fit(expression, pairs[edge],
                                                                    (classes[edge] == 1).astype(np.int64))
        return self

    def predict_proba(self, pairs, expression=None) -> np.ndarray:
        """(P, 3) probabilities of none / a -> b / b -> a (:func:`three_class_proba`)."""
        if not hasattr(self, "existence_"):
            raise ValueError("this DirectionClassifier is not fitted yet; call fit first")
        kwargs = {} if expression is None else {"expression": expression}
        return three_class_proba(link_probabilities(self.existence_.predict_proba(pairs, **kwargs)),
                                 link_probabilities(self.direction_.predict_proba(pairs, **kwargs)))

    def predict(self, pairs, expression=None) -> np.ndarray:
        """The most probable class per pair (0 none, 1 a -> b, 2 b -> a)."""
        return self.predict_proba(pairs, expression).argmax(axis=1)


# ------------------------------------------------------------------------------------ evaluation
@dataclass
class DirectionCV:
    """Out-of-fold scores (gene_a, gene_b, class, fold, and per model ``<name>_existence`` and
    ``<name>_forward``) and, per fold, which fitted head did not learn and why."""

    predictions: pd.DataFrame
    failures: list = field(default_factory=list)

    def tested(self) -> pd.DataFrame:
        return self.predictions[self.predictions.fold >= 0]

    def metrics(self, model: str, sensitivity: float = 0.8) -> dict[str, float]:
        """:func:`direction_metrics` of ``model`` over the tested pairs."""
        done = self.tested()
        return direction_metrics(done["class"], done[f"{model}_existence"], done[f"{model}_forward"],
                                 sensitivity=sensitivity, gene_a=done.gene_a, gene_b=done.gene_b)


def cross_validate_direction(models: dict, expression, pairs, classes, *, gene_names=None, n_folds: int = 3,
                             split: str = "tf", random_state: int = 0,
                             progress: Union[bool, str] = True) -> DirectionCV:
    """Out-of-fold existence and direction scores of each model ``name -> (existence, direction)``
    (binary estimators, cloned and fitted per fold on :func:`direction_folds`). An estimator object
    named by several models is fitted once per fold, so DeepDRIM, CNNC and their combination cost
    four fits, not six. The model ``baseline`` is added: existence = |Pearson r|, direction =
    :func:`regulator_prior_scores` (gene identity only), the controls a direction result needs."""
    pairs, classes = _check_classes(pairs, classes)
    expression = np.asarray(expression)
    folds = direction_folds(pairs, n_folds, split, random_state)
    heads = {}
    for existence, direction in models.values():
        heads.setdefault(("existence", id(existence)), existence)
        heads.setdefault(("direction", id(direction)), direction)
    scores = {key: np.full(len(pairs), np.nan) for key in heads}
    fold_of = np.full(len(pairs), -1)
    regulator_prior = np.full(len(pairs), np.nan)
    failures: list = []
    refresh = 0.5 if sys.stderr.isatty() else 30.0
    label = progress if isinstance(progress, str) else f"direction CV {len(pairs):,} pairs"
    with tqdm(total=len(folds) * len(heads), desc=label, unit="fit", leave=False, mininterval=refresh,
              disable=not progress) as bar:
        for k, (train, test, _) in enumerate(folds):
            fold_of[test] = k
            edge = train[classes[train] > 0]
            for (head, key), template in heads.items():
                rows, labels = (train, (classes[train] > 0)) if head == "existence" else (edge, classes[edge] == 1)
                with reported_per_fold():  # a fit that did not learn is the fold's line below
                    model = clone(template, safe=False).fit(expression, pairs[rows], labels.astype(np.int64))
                scores[(head, key)][test] = link_probabilities(model.predict_proba(pairs[test]))
                failure = getattr(model, "failure_", None)
                if failure is None and constant_scores(scores[(head, key)][test]):
                    failure = f"constant scores on the fold's {len(test)} test pairs"
                if failure:
                    names = [n for n, pair in models.items() if id(pair[0 if head == "existence" else 1]) == key]
                    failures.append((k, head, tuple(names), failure))
                    log.warning("fold %d, %s head of %s did not learn: %s", k, head, "/".join(names), failure)
                bar.update(1)
            regulator_prior[test] = regulator_prior_scores(pairs[train], classes[train], pairs[test])
    names = np.asarray(gene_names if gene_names is not None else np.arange(expression.shape[1]), dtype=object)
    columns = {"gene_a": names[pairs[:, 0]], "gene_b": names[pairs[:, 1]], "class": classes, "fold": fold_of,
               "baseline_existence": np.where(fold_of >= 0, BASELINES["pcc"](expression, pairs), np.nan),
               "baseline_forward": regulator_prior}
    for name, (existence, direction) in models.items():
        columns[f"{name}_existence"] = scores[("existence", id(existence))]
        columns[f"{name}_forward"] = scores[("direction", id(direction))]
    return DirectionCV(pd.DataFrame(columns), failures)


def regulator_prior_scores(train_pairs, train_classes, pairs) -> np.ndarray:
    """P(a -> b) from gene identity alone: each gene's rate of being the regulator in the training
    edges (Laplace-smoothed, 0.5 for a gene in none), as (1 + rate(a) - rate(b)) / 2. The control
    that shows whether a direction model reads the pair or only knows which genes regulate."""
    train_pairs, train_classes = np.asarray(train_pairs), np.asarray(train_classes)
    edge = train_classes > 0
    forward = train_classes[edge] == 1
    regulator = np.where(forward, train_pairs[edge, 0], train_pairs[edge, 1])
    target = np.where(forward, train_pairs[edge, 1], train_pairs[edge, 0])
    n_genes = int(max(np.max(train_pairs, initial=-1), np.max(pairs, initial=-1))) + 1
    as_regulator = np.bincount(regulator, minlength=n_genes)
    as_target = np.bincount(target, minlength=n_genes)
    rate = (as_regulator + 1.0) / (as_regulator + as_target + 2.0)
    pairs = np.asarray(pairs)
    return (1.0 + rate[pairs[:, 0]] - rate[pairs[:, 1]]) / 2.0


def pairwise_direction_accuracy(gene_a, gene_b, classes, forward) -> float:
    """Over the true edges scored in both orientations: the fraction where the true orientation gets
    the higher P(a -> b) (ties count half). Threshold-free, unlike accuracy at 0.5."""
    table = pd.DataFrame({"a": np.asarray(gene_a, dtype=object), "b": np.asarray(gene_b, dtype=object),
                          "cls": np.asarray(classes), "f": np.asarray(forward, dtype=np.float64)})
    true = table[table.cls == 1].merge(table[table.cls == 2], left_on=["a", "b"], right_on=["b", "a"],
                                       suffixes=("", "_rev"))
    if true.empty:
        return float("nan")
    return float(np.mean(np.where(true.f > true.f_rev, 1.0, np.where(true.f == true.f_rev, 0.5, 0.0))))


def direction_metrics(classes, existence, forward, *, sensitivity: float = 0.8, gene_a=None,
                      gene_b=None) -> dict[str, float]:
    """Existence (an edge either way): ``existence_auroc``, ``existence_auprc``, ``fp_matched`` /
    ``fpr_matched`` (no-edge pairs called where the model finds ``sensitivity`` of the true edges);
    direction on the true edges: ``direction_auroc``, ``direction_accuracy`` (P(a -> b | edge) at
    0.5, the three-class argmax between the two directions) and, with gene names,
    ``pairwise_direction_accuracy``."""
    classes = np.asarray(classes)
    existence = np.asarray(existence, dtype=np.float64)
    forward = np.asarray(forward, dtype=np.float64)
    edge = classes > 0
    out = {"existence_auroc": auroc(edge, existence), "existence_auprc": auprc(edge, existence)}
    matched = false_positives_at_sensitivity(edge.astype(int), existence, sensitivity=sensitivity)
    out.update(fp_matched=matched["fp"], fpr_matched=matched["fpr"])
    out["direction_auroc"] = auroc(classes[edge] == 1, forward[edge])
    out["direction_accuracy"] = float(np.mean((forward[edge] >= 0.5) == (classes[edge] == 1)))
    if gene_a is not None and gene_b is not None:
        out["pairwise_direction_accuracy"] = pairwise_direction_accuracy(gene_a, gene_b, classes, forward)
    return out


__all__ = ["CLASSES", "DirectedPairs", "DirectionCV", "DirectionClassifier", "cross_validate_direction",
           "directed_pairs", "direction_folds", "direction_metrics", "pairwise_direction_accuracy", "regulator_prior_scores",
           "three_class_proba"]
