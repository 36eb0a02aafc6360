"""DeepDRIM against other methods, paired by TF: the comparison table (per-method medians, EPR and
Wilcoxon p vs DeepDRIM), the control rows, and a comparison study's verdicts (paper Fig. 3E-F).

Plain data in, plain data out: each method's run is a :class:`MethodRun` (its per-TF AUROC/AUPRC
table and pooled metrics, however they were obtained), so any caller can compare methods without a
tracking store. The suite's ``experiments/reports/comparison.py`` fetches these from MLflow.

**Table.** For each run the per-TF table is paired with the DeepDRIM run's of its context (same data,
seed and folds; the first DeepDRIM run of the context, :func:`references`) by TF, and the two-sided
Wilcoxon signed-rank p (:func:`deepdrim.stats.wilcoxon_p`) is computed over the common TFs.

**Claims** (:func:`comparison_verdicts`, effect ``per_tf_difference`` of a comparison preset's
``figure.verdict``): DeepDRIM's per-TF metric minus another's, paired by TF over the TFs both scored
(per-TF values first averaged over seeds), mean with a 95% t-interval over TFs and the Wilcoxon p
(:func:`deepdrim.stats.paired_difference`); "supported" when the whole interval is above
``threshold`` (0), "contradicted" when wholly below, else "inconclusive"; "failed_to_learn" when
DeepDRIM failed to learn (constant scores) in half its folds or more: the numbers are kept, the
verdict is not a result. Fewer failed folds leave their TFs out of DeepDRIM's per-TF values; a
compared method that failed keeps the verdict; the line says either. The claims, in order:

* ``best_other``: against the strongest other method (highest median per-TF value; controls,
  ablations and DeepDRIM excluded): the paper's claim, logged as the parent's ``verdict``;
* ``vs_cnnc``: against CNNC (DeepDRIM with the primary image only), when it ran;
* ``vs_target_only``: against the target-only ablation, when it ran: does DeepDRIM use the TF, or
  only the target's identity (hub genes of a dense ChIP-seq network)?
* ``vs_prior`` / ``vs_target_mean``: against each control (:data:`CONTROLS`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from deepdrim.metrics import early_precision_ratio, per_tf_metrics, summary
from deepdrim.stats import decide, paired_difference, wilcoxon_p
from deepdrim.verdicts import supported_flag

#: the method every other is compared with
REFERENCE = "deepdrim"
CAPTION = "CNNC = DeepDRIM with neighbors=0"
#: each method's display name (also the table's order within a context)
DISPLAY = {"deepdrim": "DeepDRIM", "cnnc": "CNNC", "pcc": "PCC", "spearman": "Spearman", "mi": "MI",
           "ppcor": "PPCOR", "clr": "CLR", "genie3": "GENIE3", "grnboost2": "GRNBoost2",
           "target_only": "target-only ablation"}
COLUMNS = ["method", "label", "context", "median_auroc", "median_auprc", "epr", "p_auroc", "p_auprc", "n_tfs",
           "auroc", "auprc", "wall_seconds", "failed_folds", "run_id", "role"]
#: control columns of a CV job's predictions -> their label in the comparison (no training, or
#: no expression: what a method must beat to have learned regulation, not gene identity)
CONTROLS = {"prior": "gene prior (control)", "target_mean": "target mean expression (control)"}
#: trained methods that are ablations of DeepDRIM, not competitors: never "the strongest other method"
ABLATIONS = {"target_only": "its target-only ablation"}


@dataclass
class MethodRun:
    """One run's method, label, context (what decides its pairs and folds), metrics and per-TF table."""

    run_id: str
    method: str
    label: str
    context: str
    metrics: dict
    per_tf: pd.DataFrame
    role: str = "method"  # "method", or "control" (a column of a CV job's predictions)
    failed_tfs: frozenset = frozenset()  # TFs tested in a fold whose model failed to learn


# ---------------------------------------------------------------------------------------- the table
def fold_learning(metrics: dict) -> dict[int, bool]:
    """fold -> whether its model learned, from a CV run's ``fold{k}/learned`` metrics (none: {})."""
    return {int(name[4:-len("/learned")]): value != 0.0 for name, value in metrics.items()
            if re.fullmatch(r"fold\d+/learned", name)}


def failed_folds_of(metrics: dict) -> list[int]:
    """The folds a CV run's ``fold{k}/learned`` metrics mark as failed to learn."""
    return sorted(k for k, learned in fold_learning(metrics).items() if not learned)


def references(runs: Sequence[MethodRun]) -> dict[str, MethodRun]:
    """context -> its reference: the first DeepDRIM run of that context."""
    found: dict[str, MethodRun] = {}
    for r in runs:
        if r.method == REFERENCE:
            found.setdefault(r.context, r)
    return found


def comparison_table(runs: Sequence[MethodRun]) -> pd.DataFrame:
    """One row per run: medians of its per-TF metrics, EPR, and p-values against the DeepDRIM run
    of its context over their common TFs (``n_tfs``: TFs paired, or the reference's own count)."""
    reference = references(runs)
    rows = []
    for r in runs:
        ref = reference.get(r.context)
        row = {"method": r.method, "label": r.label, "context": r.context,
               "median_auroc": float(r.per_tf["auroc"].median()), "median_auprc": float(r.per_tf["auprc"].median()),
               "epr": r.metrics.get("epr", np.nan), "p_auroc": np.nan, "p_auprc": np.nan, "n_tfs": len(r.per_tf),
               "auroc": r.metrics.get("auroc", np.nan), "auprc": r.metrics.get("auprc", np.nan),
               "wall_seconds": r.metrics.get("wall_seconds", np.nan),
               "failed_folds": r.metrics.get("n_failed_folds", np.nan), "run_id": r.run_id, "role": r.role}
        if ref is not None and ref is not r:
            paired = ref.per_tf.merge(r.per_tf, on="tf", suffixes=("_ref", ""))
            row.update(n_tfs=len(paired), p_auroc=wilcoxon_p(paired["auroc_ref"], paired["auroc"]),
                       p_auprc=wilcoxon_p(paired["auprc_ref"], paired["auprc"]))
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def table_metrics(table: pd.DataFrame, names: Sequence[str], prefix: str = "") -> dict[str, float]:
    """``<prefix><label>/<name>`` -> value of each row of a :func:`comparison_table` (the label with
    characters a metric name cannot hold replaced by ``_``), for logging."""
    out = {}
    for row in table.itertuples():
        key = re.sub(r"[^\w\-. /]", "_", str(row.label))
        out.update({f"{prefix}{key}/{name}": float(getattr(row, name)) for name in names})
    return out


def format_table(table: pd.DataFrame) -> str:
    """The comparison as aligned text (for the console)."""
    shown = table[["label", "median_auroc", "median_auprc", "epr", "p_auroc", "p_auprc", "n_tfs", "wall_seconds"]].copy()
    failed = table["failed_folds"].fillna(0) > 0  # constant scores: the row's AUROC is no result
    shown.loc[failed, "label"] = shown.loc[failed, "label"] + " (FAILED to learn)"
    return f"{CAPTION}\n" + shown.to_string(index=False, float_format=lambda v: f"{v:.3g}")


def paper_medians(spec: Optional[dict]) -> Optional[dict]:
    """The paper's DeepDRIM medians of a comparison preset's ``figure.paper`` block, as a
    comparison figure draws them ({"auroc": ..., "auprc": ...}), or None."""
    paper = (spec or {}).get("paper") or {}
    found = {m: paper[f"deepdrim_median_{m}"] for m in ("auroc", "auprc") if f"deepdrim_median_{m}" in paper}
    return found or None


def control_runs(predictions: pd.DataFrame, source: MethodRun) -> list[MethodRun]:
    """One :class:`MethodRun` per control column (:data:`CONTROLS`) of a CV job's predictions
    (``source``'s), over the pairs a fold tested and the control scored: per-TF AUROC/AUPRC,
    pooled AUROC/AUPRC and EPR, in ``source``'s context."""
    out = []
    tested = predictions[predictions["fold"] >= 0] if "fold" in predictions else predictions
    for column, label in CONTROLS.items():
        if column not in tested:
            continue
        rows = tested[np.isfinite(pd.to_numeric(tested[column], errors="coerce"))]
        if rows.empty or rows["label"].nunique() < 2:
            continue
        tf, labels, scores = rows["tf"].astype(str), rows["label"].to_numpy(), rows[column].to_numpy(dtype=float)
        metrics = {k: v for k, v in summary(tf, labels, scores).items() if k in ("auroc", "auprc")}
        metrics["epr"] = early_precision_ratio(labels, scores)
        shown = f"{label} [{source.context}]" if source.label.endswith(f"[{source.context}]") and source.context \
            else label
        out.append(MethodRun(source.run_id, column, shown, source.context, metrics,
                             per_tf_metrics(tf, labels, scores).table, role="control"))
    return out


# ---------------------------------------------------------------------------------------- claims
@dataclass
class Claim:
    """One paired claim: DeepDRIM minus ``other`` over TFs, its CI, test and verdict."""

    key: str
    claim: str
    other: str
    effect: float
    ci_low: float
    ci_high: float
    n_tfs: int
    p: float
    verdict: str
    line: str


def _key(run: MethodRun) -> str:
    return run.method if not (run.method == REFERENCE and "neighbors=0" in run.label) else "deepdrim_n0"


def per_tf_values(runs: Sequence[MethodRun], metric: str) -> dict[str, pd.Series]:
    """method -> per-TF ``metric`` averaged over its runs (seeds); controls by their column,
    DeepDRIM with neighbors=0 as ``deepdrim_n0``. DeepDRIM's values of TFs tested in a fold that
    failed to learn are left out of the mean (a constant score is no result); a TF whose every
    seed failed drops out of DeepDRIM's claims."""
    grouped: dict[str, list] = {}
    for r in runs:
        key = _key(r)
        values = r.per_tf.set_index(r.per_tf["tf"].astype(str))[metric].astype(float)
        if key == REFERENCE and r.failed_tfs:
            values = values.where(~values.index.isin(list(r.failed_tfs)))
        grouped.setdefault(key, []).append(values)
    return {key: pd.concat(parts, axis=1).mean(axis=1) for key, parts in grouped.items()}


def fold_failures(runs: Sequence[MethodRun]) -> dict[str, tuple[int, int]]:
    """method (as :func:`per_tf_values` keys it) -> (folds that failed to learn, folds trained), from
    each run's ``fold{k}/learned`` metrics (:mod:`deepdrim.diagnostics`)."""
    learned: dict[str, list[bool]] = {}
    for r in runs:
        learned.setdefault(_key(r), []).extend(fold_learning(r.metrics).values())
    return {key: (oks.count(False), len(oks)) for key, oks in learned.items()}


def paired_claim(key: str, claim: str, other: str, reference: pd.Series, values: pd.Series,
                 threshold: float = 0.0) -> Claim:
    """DeepDRIM's per-TF values minus ``values`` over their common TFs: mean, 95% t-interval over
    TFs, Wilcoxon p, verdict (:func:`deepdrim.stats.decide`, "above" ``threshold``)."""
    common = reference.dropna().index.intersection(values.dropna().index)
    mean, low, high, n, p = paired_difference(reference[common], values[common])
    verdict = decide(low, high, n, "above", threshold)
    line = (f"{claim}: per-TF DeepDRIM - {other} = {mean:+.3f} [{low:+.3f}, {high:+.3f}] over {n} TFs "
            f"(Wilcoxon p={p:.2g}; > {threshold:+.3f} needed): {verdict}")
    return Claim(key, claim, other, mean, low, high, n, p, verdict, line)


def _unless_failed(claim: Claim, folds: Mapping[str, tuple[int, int]], reference: str, other: str) -> Claim:
    """``claim``, or the same numbers with verdict "failed_to_learn" when DeepDRIM failed to learn in
    half its folds or more (module docstring); otherwise the line names failed folds of either side."""
    failed, trained = folds.get(reference, (0, 0))
    if failed and 2 * failed >= trained:
        line = (f"{claim.claim}: no result: DeepDRIM failed to learn in {failed} of {trained} folds "
                "(constant scores; numbers kept, not a verdict)")
        return Claim(claim.key, claim.claim, claim.other, claim.effect, claim.ci_low, claim.ci_high, claim.n_tfs,
                     claim.p, "failed_to_learn", line)
    if failed:
        claim.line += (f" (DeepDRIM failed to learn in {failed} of {trained} folds: the TFs of those folds are "
                       "left out of its values there)")
    failed, trained = folds.get(other, (0, 0))
    if failed:
        claim.line += f" ({claim.other} failed to learn in {failed} of {trained} folds: constant scores there)"
    return claim


def claims(values: Mapping[str, pd.Series], spec: dict,
           folds: Optional[Mapping[str, tuple[int, int]]] = None) -> list[Claim]:
    """The comparison study's claims (module docstring) from per-TF values by method
    (:func:`per_tf_values`), the preset's ``figure`` block ``spec`` (``reference``, ``verdict``) and
    the failed folds by method (:func:`fold_failures`); [] without the reference's values."""
    folds = folds or {}
    block = spec.get("verdict") or {}
    threshold = float(block.get("threshold", 0.0))
    ref_key = spec.get("reference", REFERENCE)
    reference = values.get(ref_key)
    if reference is None:
        return []

    def versus(key: str, claim: str, other: str, method: str) -> Claim:
        return _unless_failed(paired_claim(key, claim, other, reference, values[method], threshold),
                              folds, ref_key, method)

    others = {k: v for k, v in values.items() if k not in (REFERENCE, *CONTROLS, *ABLATIONS)}
    found = []
    if others:
        best = max(others, key=lambda k: float(others[k].median()))
        found.append(versus("best_other", str(block.get("claim", "DeepDRIM beats the other methods")),
                            f"{DISPLAY.get(best, best)} (strongest other method)", best))
    if "cnnc" in values:
        found.append(versus("vs_cnnc", "DeepDRIM > CNNC (neighbor images help)", "CNNC", "cnnc"))
    for key, name in ABLATIONS.items():
        if key in values:
            found.append(versus(f"vs_{key}", f"DeepDRIM > {name} (the TF matters)", DISPLAY.get(key, key), key))
    for column, label in CONTROLS.items():
        if column in values:
            found.append(versus(f"vs_{column}", f"DeepDRIM > {label.replace(' (control)', '')}", label, column))
    return found


def comparison_verdicts(runs: Sequence[MethodRun], spec: dict) -> list[Claim]:
    """:func:`claims` of runs and controls, on ``spec["verdict"]["metric"]`` (default AUROC)."""
    metric = (spec.get("verdict") or {}).get("metric", "auroc")
    return claims(per_tf_values(runs, metric), spec, fold_failures(runs))


def verdict_metrics(found: Sequence[Claim], spec: Optional[dict] = None) -> dict[str, float]:
    """``verdict/*`` of the first claim, ``verdict/<key>/*`` of the others, ``paper/*`` (finite only)."""
    out: dict[str, float] = {}
    for i, c in enumerate(found):
        prefix = "verdict" if i == 0 else f"verdict/{c.key}"
        out.update({f"{prefix}/effect": c.effect, f"{prefix}/ci_low": c.ci_low, f"{prefix}/ci_high": c.ci_high,
                    f"{prefix}/n_tfs": float(c.n_tfs), f"{prefix}/p_wilcoxon": c.p,
                    f"{prefix}/supported": supported_flag(c.verdict)})
    for key, value in ((spec or {}).get("paper") or {}).items():
        out[f"paper/{key}"] = float(value)
    return {k: v for k, v in out.items() if np.isfinite(v)}


def verdict_tags(found: Sequence[Claim], label: str = "") -> dict[str, str]:
    """``verdict``/``claim``/``verdict_line`` of the first claim (line prefixed with the data
    source ``label``), ``verdict/<key>``/``claim/<key>`` of the others."""
    out: dict[str, str] = {}
    for i, c in enumerate(found):
        if i == 0:
            out.update(verdict=c.verdict, claim=c.claim, verdict_line=f"[{label}] {c.line}" if label else c.line)
        else:
            out.update({f"verdict/{c.key}": c.verdict, f"claim/{c.key}": c.claim})
    return out


def format_verdicts(found: Sequence[Claim], spec: Optional[dict] = None, label: str = "") -> str:
    """The verdict lines (prefixed with the data source ``label``) and the paper's numbers, for the console."""
    where = f"[{label}] " if label else ""
    lines = [f"verdict: {where}{c.line}" for c in found] or ["verdict: not computed (no DeepDRIM run)"]
    paper = (spec or {}).get("paper") or {}
    if paper:
        lines.append("paper (its five BEELINE cell types, Fig. 3E-F): " + ", ".join(
            f"{k} {v}" for k, v in paper.items()))
    return "\n".join(lines)
