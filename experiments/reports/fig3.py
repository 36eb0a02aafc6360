"""The paper's Fig. 3 on real data (preset ``fig3_real``) and what names a study's data source.

A comparison study (``figure.kind: comparison``) ends with the method comparison of
:mod:`experiments.reports.comparison` (controls included) and these verdicts, each DeepDRIM's per-TF
AUROC (``figure.verdict.metric``) minus another's, paired by TF over the TFs both scored (per-TF
values first averaged over seeds when the sweep ran several), mean with a 95% t-interval over TFs
(:func:`deepdrim.stats.paired_difference`) and the two-sided Wilcoxon signed-rank p; "supported" when the
whole interval is above ``threshold`` (0), "contradicted" when wholly below, else "inconclusive";
"failed_to_learn" when DeepDRIM failed to learn (constant scores) in half its folds or more: the
numbers are kept, the verdict is not a result. Fewer failed folds leave their TFs out of DeepDRIM's
per-TF values; a compared method that failed keeps the verdict; the line says either:

* ``best_other``: against the strongest other method (highest median per-TF value; controls and
  DeepDRIM excluded): the paper's claim (Fig. 3E-F), logged as the parent's ``verdict``;
* ``vs_cnnc``: against CNNC (DeepDRIM with the primary image only), when it ran;
* ``vs_target_only``: against the target-only ablation (``method=target_only``), when it ran: does
  DeepDRIM use the TF, or only the target's identity (hub genes of a dense ChIP-seq network)?
* ``vs_prior`` / ``vs_target_mean``: against each control of the comparison table.

The parent run gets ``verdict/*`` metrics and ``verdict``/``claim``/``verdict_line`` tags for the
first, ``verdict/<key>/*`` metrics and ``verdict/<key>``/``claim/<key>`` tags for the others,
``paper/*`` metrics (the paper's numbers of the preset's ``figure.paper`` block) and the data tag.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from deepdrim.stats import decide, paired_difference

#: the parent-run tag naming a study's data source (:func:`data_label`)
DATA_TAG = "data_label"
#: kinds of data read from files (their label names the file or folder)
FILE_KINDS = ("beeline", "h5ad", "reference")


def data_label(data: dict, choice: Optional[str] = None, split: Optional[str] = None) -> str:
    """A short name of a job's data source: ``beeline:<folder>`` (``+network=<file stem>`` when
    ``data.network`` picks another ground truth), ``h5ad:<file stem>``, ``reference:<file stem>``;
    else the data config's name (``template``, ``sim``, ``sergio``; ``choice``, Hydra's runtime
    choice of the ``data`` group), falling back to ``data.kind``. A CV ``split`` other than the
    default ``tf`` is appended (`` split=strict``): the same data under another split is another
    column of the claim x data source matrix."""
    data = data or {}
    kind = str(data.get("kind") or choice or "sim")
    if kind in FILE_KINDS and data.get("path"):
        path = Path(str(data["path"]).rstrip("/"))
        label = f"{kind}:{path.name if kind == 'beeline' else path.stem}"
        if data.get("network") and kind == "beeline":
            label += f"+network={Path(str(data['network'])).stem}"
    else:
        label = str(choice or kind)
    return f"{label} split={split}" if split and split != "tf" else label


def config_data_label(config) -> str:
    """:func:`data_label` of a composed (multirun) config; the GGM study simulates its own data."""
    from omegaconf import OmegaConf

    if config.get("task") == "fig1_ggm":
        return "ggm"
    data = OmegaConf.to_container(config.data, resolve=False) if config.get("data") is not None else {}
    choice = None
    try:
        choice = (config.hydra.runtime.choices or {}).get("data")
    except Exception:  # noqa: BLE001 - a config without Hydra's node (tests)
        choice = None
    split = config.cv.get("split") if config.get("cv") is not None else None
    return data_label(data, choice, split)


# ---------------------------------------------------------------------------------------- verdicts
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


def _per_tf(runs: list, metric: str) -> dict[str, pd.Series]:
    """label -> per-TF ``metric`` averaged over the runs of that method (seeds), keyed by method
    (controls by their column, DeepDRIM with neighbors=0 apart from DeepDRIM). DeepDRIM's values of
    TFs tested in a fold that failed to learn are left out of the mean (a constant score is no
    result); a TF whose every seed failed drops out of DeepDRIM's claims."""
    grouped: dict[str, list] = {}
    for r in runs:
        key = _key(r)
        values = r.per_tf.set_index(r.per_tf["tf"].astype(str))[metric].astype(float)
        if key == "deepdrim" and r.failed_tfs:
            values = values.where(~values.index.isin(list(r.failed_tfs)))
        grouped.setdefault(key, []).append(values)
    return {key: pd.concat(parts, axis=1).mean(axis=1) for key, parts in grouped.items()}


def _key(run) -> str:
    return run.method if not (run.method == "deepdrim" and "neighbors=0" in run.label) else "deepdrim_n0"


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


#: trained methods that are ablations of DeepDRIM, not competitors: never "the strongest other method"
ABLATIONS = {"target_only": "its target-only ablation"}


def failed_folds(runs: list, key: str) -> tuple[int, int]:
    """(folds that failed to learn, folds trained) over the runs of ``key`` (a method, or
    ``deepdrim_n0``): from each CV run's ``fold{k}/learned`` metrics (:mod:`deepdrim.diagnostics`)."""
    from experiments.reports.comparison import fold_learning

    learned = [ok for r in runs if _key(r) == key for ok in fold_learning(r.metrics).values()]
    return learned.count(False), len(learned)


def _unless_failed(claim: Claim, runs: list, reference: str, other: str) -> Claim:
    """``claim``, or the same numbers with verdict "failed_to_learn" when DeepDRIM failed to learn
    (constant scores) in half its folds or more: no result in either direction. Fewer failed folds
    leave those folds' TFs out of DeepDRIM's values (:func:`_per_tf`) and the line says so. When only
    the compared trained method failed, the verdict stands (its constant scores are what it could
    learn: nothing) and the line says so too."""
    failed, trained = failed_folds(runs, reference)
    if failed and 2 * failed >= trained:
        line = (f"{claim.claim}: no result: DeepDRIM failed to learn in {failed} of {trained} folds "
                "(constant scores; numbers kept, not a verdict)")
        return Claim(claim.key, claim.claim, claim.other, claim.effect, claim.ci_low, claim.ci_high, claim.n_tfs,
                     claim.p, "failed_to_learn", line)
    if failed:
        claim.line += (f" (DeepDRIM failed to learn in {failed} of {trained} folds: the TFs of those folds are "
                       "left out of its values there)")
    failed, trained = failed_folds(runs, other)
    if failed:
        claim.line += f" ({claim.other} failed to learn in {failed} of {trained} folds: constant scores there)"
    return claim


def verdicts(runs: list, spec: dict) -> list[Claim]:
    """The comparison study's claims (module docstring) from fetched runs and controls
    (:class:`experiments.reports.comparison.MethodRun`); [] without a DeepDRIM run. Every claim gets
    verdict "failed_to_learn" when DeepDRIM failed to learn in half its folds or more (:func:`_unless_failed`)."""
    from experiments.reports.naming import DISPLAY
    from experiments.reports.comparison import CONTROLS

    block = spec.get("verdict") or {}
    metric = block.get("metric", "auroc")
    threshold = float(block.get("threshold", 0.0))
    table = _per_tf(runs, metric)
    ref_key = spec.get("reference", "deepdrim")
    reference = table.get(ref_key)
    if reference is None:
        return []
    others = {k: v for k, v in table.items() if k not in ("deepdrim", *CONTROLS, *ABLATIONS)}
    found = []
    if others:
        best = max(others, key=lambda k: float(others[k].median()))
        found.append(_unless_failed(paired_claim(
            "best_other", str(block.get("claim", "DeepDRIM beats the other methods")),
            f"{DISPLAY.get(best, best)} (strongest other method)", reference, others[best], threshold),
            runs, ref_key, best))
    if "cnnc" in table:
        found.append(_unless_failed(paired_claim("vs_cnnc", "DeepDRIM > CNNC (neighbor images help)", "CNNC",
                                                 reference, table["cnnc"], threshold), runs, ref_key, "cnnc"))
    for key, name in ABLATIONS.items():
        if key in table:
            found.append(_unless_failed(paired_claim(f"vs_{key}", f"DeepDRIM > {name} (the TF matters)",
                                                     DISPLAY.get(key, key), reference, table[key], threshold),
                                        runs, ref_key, key))
    for column, label in CONTROLS.items():
        if column in table:
            found.append(_unless_failed(paired_claim(f"vs_{column}", f"DeepDRIM > {label.replace(' (control)', '')}",
                                                     label, reference, table[column], threshold),
                                        runs, ref_key, column))
    return found


def verdict_metrics(found: list[Claim], spec: Optional[dict] = None) -> dict[str, float]:
    """``verdict/*`` of the first claim, ``verdict/<key>/*`` of the others, ``paper/*``."""
    out: dict[str, float] = {}
    for i, c in enumerate(found):
        prefix = "verdict" if i == 0 else f"verdict/{c.key}"
        out.update({f"{prefix}/effect": c.effect, f"{prefix}/ci_low": c.ci_low, f"{prefix}/ci_high": c.ci_high,
                    f"{prefix}/n_tfs": float(c.n_tfs), f"{prefix}/p_wilcoxon": c.p,
                    f"{prefix}/supported": {"supported": 1.0, "contradicted": 0.0}.get(c.verdict, float("nan"))})
    for key, value in ((spec or {}).get("paper") or {}).items():
        out[f"paper/{key}"] = float(value)
    return {k: v for k, v in out.items() if np.isfinite(v)}


def verdict_tags(found: list[Claim], label: str = "") -> dict[str, str]:
    """``verdict``/``claim``/``verdict_line`` of the first claim (line prefixed with the data
    source), ``verdict/<key>``/``claim/<key>`` of the others."""
    out: dict[str, str] = {}
    for i, c in enumerate(found):
        if i == 0:
            out.update(verdict=c.verdict, claim=c.claim, verdict_line=f"[{label}] {c.line}" if label else c.line)
        else:
            out.update({f"verdict/{c.key}": c.verdict, f"claim/{c.key}": c.claim})
    return out


def format_verdicts(found: list[Claim], spec: Optional[dict] = None, label: str = "") -> str:
    """The verdict lines (prefixed with the data source ``label``) and the paper's numbers, for the console."""
    where = f"[{label}] " if label else ""
    lines = [f"verdict: {where}{c.line}" for c in found] or ["verdict: not computed (no DeepDRIM run)"]
    paper = (spec or {}).get("paper") or {}
    if paper:
        lines.append("paper (its five BEELINE cell types, Fig. 3E-F): " + ", ".join(
            f"{k} {v}" for k, v in paper.items()))
    return "\n".join(lines)


def summarise(client, parent_run_id: str, finished: list, spec: dict, out_dir: Path, label: str) -> list[Path]:
    """A comparison study's parent: the comparison (controls, the paper's medians drawn), its rows
    as ``compare/<label>/*`` metrics, the verdicts and ``paper/*`` metrics; returns the files."""
    from experiments.reports import comparison

    runs = comparison.fetch(finished)
    if len(runs) < 2:
        print(f"comparison: not computed ({len(runs)} run(s) with a {comparison.PER_TF})")
        return []
    runs += comparison.fetch_controls(runs)
    paths = comparison.write_comparison(runs, out_dir, paper=comparison.paper_medians(spec))
    metrics: dict[str, float] = {}
    for row in pd.read_csv(paths[0]).itertuples():
        key = re.sub(r"[^\w\-. /]", "_", str(row.label))
        for name in ("median_auroc", "median_auprc", "auroc", "auprc", "p_auroc", "p_auprc"):
            value = float(getattr(row, name))
            if np.isfinite(value):
                metrics[f"compare/{key}/{name}"] = value
    found = verdicts(runs, spec)
    print(format_verdicts(found, spec, label))
    metrics.update(verdict_metrics(found, spec))
    for key, value in metrics.items():
        client.log_metric(parent_run_id, key, value)
    for key, value in verdict_tags(found, label).items():
        client.set_tag(parent_run_id, key, value[:5000])
    return paths
