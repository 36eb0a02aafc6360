"""Verdicts: what a run or a study's runs say about a claim, as numbers, a tag and one line.

Two kinds:

* **Trust** (every CV job, :func:`trust`): does the method beat every control (Pearson |r|, the
  gene prior: the target's positive rate among the training pairs, and the target's mean
  expression) on the pairs it was tested on, given how much it learned from? The rule: the
  method's bootstrap CI over TFs (``auroc_ci_low``) must lie above the strongest control's point
  AUROC ("beats"). Otherwise, when the folds trained on fewer than :data:`MIN_TRAIN_PAIRS`
  labelled pairs on average, the verdict is "too_small" (the measured learning curve is steep
  below that: science notes section 1, 560 -> 430 pairs per fold costs ~0.09 AUROC, and the
  quick scale's ~107 pairs per fold is at chance); else "below" (CI entirely under the
  strongest control) or "overlaps". A fit that did not learn (constant scores, or a training
  loss that never left the 0.693 plateau) is "failed_to_learn" whatever its AUROC.
* **Study claims** (each study's parent run, :func:`study_verdict`): the paper's claim as defined
  in the preset's ``figure.verdict`` block, an effect size with a 95% t-interval over seeds
  (paired by seed where it is a difference), and "supported" when the whole CI is on the claim's
  side of its threshold, "contradicted" when the whole CI is on the other side, "inconclusive"
  otherwise (always with fewer than 2 seeds).

Effects (``figure.verdict.effect`` of a study preset), computed from a run table (one row per
run: ``x``, ``line``, ``seed`` and the metric):

``at`` and ``reference`` are x values (``at``: the smallest swept x >= it; ``reference`` null: the
largest x).

* ``within``: metric(at) - metric(reference), paired by seed; passes ``above -tolerance``.
  Also the smallest x whose mean paired difference is >= -tolerance (``verdict/smallest_x``).
* ``max_drop``: per line (e.g. drop_prob), metric(reference) - metric(x) paired by seed, the
  largest mean drop over all (line, x); passes ``below tolerance``.
* ``difference``: metric(at) - metric(reference), paired by seed; passes ``above threshold`` (0).
* ``metric``: the run metric itself (one run per seed, e.g. Fig. 1's FP reduction); passes
  ``above threshold``.
* ``per_tf_difference``: a comparison study's (``fig3_real``), DeepDRIM's per-TF metric minus
  another method's or control's, paired by TF (:func:`deepdrim.comparison.comparison_verdicts`).

Across studies and data sources, :func:`verdict_matrix` lays the claims out as claim x data source.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from deepdrim.stats import decide, mean_ci

#: below this mean number of training pairs per fold a CV job that does not beat its baselines
#: is reported as "training set too small" (science notes section 1: steep learning curve there)
MIN_TRAIN_PAIRS = 500
TRUST_LEVELS = ("beats", "overlaps", "below", "too_small", "failed_to_learn")
EFFECTS = ("within", "max_drop", "difference", "metric", "per_tf_difference")  # the last: from per-TF tables


@dataclass
class Trust:
    """A CV job's trust verdict: one of :data:`TRUST_LEVELS` and the line that says it."""

    level: str
    line: str


def trust(label: str, auroc: float, ci_low: float, ci_high: float, pcc_auroc: float, prior_auroc: float,
          n_train_pairs: float, min_train_pairs: int = MIN_TRAIN_PAIRS, *, target_mean_auroc: float = float("nan"),
          failure: Optional[str] = None) -> Trust:
    """The trust verdict of one CV job (rule in the module docstring) against the strongest control
    (the highest AUROC of Pearson, the gene prior and the target's mean expression; NaN ones are
    ignored), which the line names. ``failure`` (why a fit did not learn,
    :func:`deepdrim.diagnostics.learning_failure`) makes it "failed_to_learn": no AUROC is a result then."""
    controls = {"Pearson": pcc_auroc, "gene prior": prior_auroc, "target mean": target_mean_auroc}
    finite = {name: value for name, value in controls.items() if np.isfinite(value)}
    best_name, best = max(finite.items(), key=lambda item: item[1]) if finite else ("none", float("nan"))
    shown = (f"Pearson {pcc_auroc:.2f}, gene prior {prior_auroc:.2f}"
             + (f", target mean {target_mean_auroc:.2f}" if np.isfinite(target_mean_auroc) else ""))
    if failure:
        return Trust("failed_to_learn", f"{label} FAILED to learn ({failure}): its AUROC is not a result "
                                        f"(controls: {shown})")
    head = f"{label} {auroc:.2f} [{ci_low:.2f}, {ci_high:.2f}] vs {shown}"
    strongest = f"the strongest control, {best_name} {best:.2f}"
    if not finite or ci_low > best:
        return Trust("beats", f"{head}: beats every control" + (f" (strongest: {best_name})" if finite else ""))
    if n_train_pairs < min_train_pairs:
        return Trust("too_small", f"{head}: training set too small to beat {strongest} reliably "
                                  f"(CI overlaps or below; {n_train_pairs:.0f} training pairs per fold < {min_train_pairs})")
    if ci_high < best:
        return Trust("below", f"{head}: below {strongest} (whole CI under it)")
    return Trust("overlaps", f"{head}: does not beat {strongest} reliably (CI overlaps)")


# ---------------------------------------------------------------------------------- study claims
def supported_flag(verdict: str) -> float:
    """The ``.../supported`` metric of a verdict: 1 supported, 0 contradicted, NaN otherwise."""
    return {"supported": 1.0, "contradicted": 0.0}.get(verdict, float("nan"))


@dataclass
class StudyVerdict:
    """A study claim's measured verdict: effect with its 95% CI over seeds, and the decision."""

    claim: str
    effect: float
    ci_low: float
    ci_high: float
    n_seeds: int
    verdict: str
    line: str
    details: dict

    def metrics(self) -> dict[str, float]:
        """``verdict/...`` metrics for the study's parent run."""
        out = {"verdict/effect": self.effect, "verdict/ci_low": self.ci_low, "verdict/ci_high": self.ci_high,
               "verdict/n_seeds": float(self.n_seeds),
               "verdict/supported": supported_flag(self.verdict)}
        out.update({f"verdict/{k}": float(v) for k, v in self.details.items() if isinstance(v, (int, float))})
        return out

    def tags(self) -> dict[str, str]:
        """``verdict`` (supported|contradicted|inconclusive), ``verdict_line`` and ``claim`` tags."""
        return {"verdict": self.verdict, "verdict_line": self.line, "claim": self.claim}


def _grid_value(xs: np.ndarray, value: float) -> float:
    """The smallest swept x >= ``value`` (a scale's grid may not hold the paper's point), else the largest."""
    above = xs[xs >= value - 1e-12]
    return float(above.min() if len(above) else xs.max()) if len(xs) else float("nan")


def _by_seed(table: pd.DataFrame, metric: str, x: float, line=None) -> pd.Series:
    """metric per seed at ``x`` (and ``line``), averaged over duplicate runs of one seed."""
    rows = table[np.isclose(table.x, x)]
    if line is not None and "line" in rows:
        rows = rows[(rows.line == line) | (rows.line.isna() & pd.isna(line))]
    return rows.groupby("seed")[metric].mean()


def _paired(table: pd.DataFrame, metric: str, x: float, reference: float, line=None) -> np.ndarray:
    """metric(x) - metric(reference) over the seeds that ran both."""
    a, b = _by_seed(table, metric, x, line), _by_seed(table, metric, reference, line)
    common = a.index.intersection(b.index)
    return (a[common] - b[common]).to_numpy(dtype=np.float64)


def study_verdict(table: pd.DataFrame, spec: dict) -> StudyVerdict:
    """The verdict of one study from its run table (columns ``x``, ``seed``, the metric, and
    ``line`` for line studies) and its preset's ``figure.verdict`` block ``spec``."""
    effect = spec.get("effect")
    if effect not in EFFECTS:
        raise ValueError(f"verdict effect must be one of {EFFECTS}, got {effect!r}")
    if effect == "per_tf_difference":  # a comparison study's: from per-TF tables, not a run table
        raise ValueError("effect per_tf_difference is computed from per-TF tables "
                         "(deepdrim.comparison.comparison_verdicts)")
    metric = spec.get("metric", "auroc")
    if metric not in table:
        raise ValueError(f"the run table has no column {metric!r}")
    claim = str(spec.get("claim", ""))
    tolerance = float(spec.get("tolerance", 0.0))
    threshold = float(spec.get("threshold", 0.0))
    details: dict = {}
    xs = np.sort(table.x.dropna().unique()) if "x" in table else np.array([])
    reference = spec.get("reference")
    if effect != "metric":
        reference = float(xs.max() if reference is None else reference)
    if effect == "metric":
        values = table.groupby("seed")[metric].mean().to_numpy(dtype=np.float64)
        side, cut, what = "above", threshold, metric
    elif effect in ("within", "difference"):
        at = _grid_value(xs, float(spec["at"]))
        # no swept value at or above the claim's point below the reference (a grid of small counts):
        # nothing to compare, so no effect (inconclusive) rather than a difference of the reference with itself
        values = np.array([]) if np.isclose(at, reference) else _paired(table, metric, at, reference)
        side, cut = "above", (-tolerance if effect == "within" else threshold)
        what = (f"{metric}(x={at:g}) - {metric}(x={reference:g})" if not np.isclose(at, reference) else
                f"not testable: no swept x >= {float(spec['at']):g} below the reference x={reference:g}")
        if effect == "within":
            within = [x for x in xs if (d := _paired(table, metric, x, reference)).size and d.mean() >= -tolerance]
            details["smallest_x"] = float(min(within)) if within else float("nan")
    else:  # max_drop
        lines = table.line.dropna().unique() if "line" in table and table.line.notna().any() else [None]
        best = None
        for line in lines:  # loop over a handful of lines and grid values
            for x in xs:
                if np.isclose(x, reference):  # the reference against itself is no drop to report
                    continue
                drops = -_paired(table, metric, x, reference, line)
                if drops.size and (best is None or drops.mean() > best[0].mean()):
                    best = (drops, x, line)
        values = best[0] if best else np.array([])
        if best:
            details.update(worst_x=float(best[1]), **({"worst_line": float(best[2])} if best[2] is not None else {}))
        side, cut = "below", tolerance
        what = f"largest {metric} drop vs x={reference:g}"
    mean, low, high, n = mean_ci(values)
    verdict = decide(low, high, n, side, cut)
    line = (f"{claim}: {what} = {mean:+.3f} [{low:+.3f}, {high:+.3f}] over {n} seeds "
            f"({'>' if side == 'above' else '<'} {cut:+.3f} needed): {verdict}")
    if "paper" in spec and spec["paper"] is not None:
        details["paper"] = float(spec["paper"])
    return StudyVerdict(claim, mean, low, high, n, verdict, line, details)


# ---------------------------------------------------------------------------------- claim x data source
def _cell(record: dict) -> str:
    n = record.get("n", float("nan"))
    count = f", {int(n)} {record.get('n_of', 'seeds')}" if n == n else ""
    return (f"{record['effect']:+.3f} [{record['ci_low']:+.3f}, {record['ci_high']:+.3f}] "
            f"{record['verdict']}{count}")


def verdict_matrix(records: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(matrix, long table) of verdict records (one per claim a study decided: ``study``, ``data``
    source, ``claim``, ``effect``, ``ci_low``, ``ci_high``, ``n``, ``n_of`` (seeds|TFs), ``verdict``,
    ``run_id``, ``start_time``), keeping the newest run per (study, data source): a newer run of a
    study on a source replaces all of the older one's claims (also one whose wording changed).
    The matrix has one row per claim and one column per data source, each cell "effect [95% CI]
    verdict, n seeds|TFs" (empty where that claim was not run on that source); the long table keeps
    the numbers."""
    columns = ["claim", "data", "study", "effect", "ci_low", "ci_high", "n", "n_of", "verdict", "run_id", "start_time"]
    if not records:
        return pd.DataFrame(), pd.DataFrame(columns=columns)
    frame = pd.DataFrame(records).reindex(columns=columns).sort_values("start_time", ascending=False, kind="stable")
    newest_parent = frame.drop_duplicates(["study", "data"])["run_id"]
    frame = frame[frame["run_id"].isin(newest_parent)]
    newest = (frame
              .drop_duplicates(["claim", "data"]).sort_values(["study", "claim", "data"], kind="stable"))
    cells = newest.assign(cell=[_cell(r) for r in newest.to_dict("records")])
    claims = list(dict.fromkeys(cells["claim"]))
    sources = sorted(dict.fromkeys(cells["data"]))
    matrix = cells.pivot(index="claim", columns="data", values="cell").reindex(index=claims, columns=sources)
    return matrix.fillna("").reset_index(), newest.reset_index(drop=True)
