"""The paper's Fig. 3 on real data (preset ``fig3_real``) and what names a study's data source.

A comparison study (``figure.kind: comparison``) ends with the method comparison of
:mod:`experiments.reports.comparison` (controls included) and its verdicts
(:func:`deepdrim.comparison.comparison_verdicts`: DeepDRIM's per-TF metric minus the strongest other
method's, CNNC's, the target-only ablation's and each control's, paired by TF). The parent run gets
``verdict/*`` metrics and ``verdict``/``claim``/``verdict_line`` tags for the first claim,
``verdict/<key>/*`` metrics and ``verdict/<key>``/``claim/<key>`` tags for the others, ``paper/*``
metrics (the paper's numbers of the preset's ``figure.paper`` block) and the data tag.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from deepdrim import comparison as compare

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


def verdict_outputs(runs: list[compare.MethodRun], spec: dict, label: str) -> tuple[dict, dict]:
    """(metrics, tags) of a comparison study's verdicts on fetched runs and controls, the verdict
    lines printed (:func:`deepdrim.comparison.comparison_verdicts`)."""
    found = compare.comparison_verdicts(runs, spec)
    print(compare.format_verdicts(found, spec, label))
    return compare.verdict_metrics(found, spec), compare.verdict_tags(found, label)


def summarise(client, parent_run_id: str, finished: list, spec: dict, out_dir: Path, label: str) -> list[Path]:
    """A comparison study's parent: the comparison (controls, the paper's medians drawn), its rows
    as ``compare/<label>/*`` metrics, the verdicts and ``paper/*`` metrics; returns the files."""
    from experiments.reports import comparison

    runs = comparison.fetch(finished)
    if len(runs) < 2:
        print(f"comparison: not computed ({len(runs)} run(s) with a {comparison.PER_TF})")
        return []
    runs += comparison.fetch_controls(runs)
    paths = comparison.write_comparison(runs, out_dir, paper=compare.paper_medians(spec))
    rows = compare.table_metrics(pd.read_csv(paths[0]), ("median_auroc", "median_auprc", "auroc", "auprc",
                                                         "p_auroc", "p_auprc"), "compare/")
    metrics = {k: v for k, v in rows.items() if np.isfinite(v)}
    verdict_metrics, tags = verdict_outputs(runs, spec, label)
    metrics.update(verdict_metrics)
    for key, value in metrics.items():
        client.log_metric(parent_run_id, key, value)
    for key, value in tags.items():
        client.set_tag(parent_run_id, key, value[:5000])
    return paths
