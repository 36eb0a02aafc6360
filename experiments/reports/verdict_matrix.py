"""Which verdict holds where: every claim a FINISHED study parent decided (:func:`verdict_records`),
laid out as claim x data source by :func:`deepdrim.verdicts.verdict_matrix` (the newest parent of
each cell) and drawn as a coloured table by ``task=report``.

A parent's data source is its ``data_label`` tag (:func:`experiments.reports.fig3.data_label`: the data
config or folder, plus the CV split when it is not ``tf``), else read from its overrides, else the
preset's default data.
"""
from __future__ import annotations

import textwrap

import pandas as pd
from mlflow.entities import Run

from experiments.reports import figures  # noqa: I001 - figures selects the Agg backend first
import matplotlib.pyplot as plt  # noqa: E402

VERDICT_COLORS = {"supported": "#c7e9c0", "contradicted": "#fcbba1", "inconclusive": "#eeeeee",
                  "failed_to_learn": "#bdbdbd"}


def _preset_data(study: str) -> str:
    """The data config a study preset picks (its ``override /data`` default), "ggm" for the GGM
    study, else "sim": the data source of parent runs logged before they named it."""
    from omegaconf import OmegaConf

    path = figures.PRESETS / f"{study}.yaml"
    if study == "fig1_ggm":
        return "ggm"
    if path.is_file():
        for entry in OmegaConf.load(path).get("defaults") or []:
            if isinstance(entry, dict) or type(entry).__name__ == "DictConfig":
                for key, value in dict(entry).items():
                    if key.strip().lstrip("override").strip() == "/data":
                        return str(value)
    return "sim"


def parent_data_label(tags: dict, study: str) -> str:
    """A multirun parent's data source: its ``data_label`` tag, else read from its overrides
    (``data=`` / ``data.path=``), else the preset's default data."""
    from experiments.reports.fig3 import DATA_TAG, data_label

    if tags.get(DATA_TAG):
        return tags[DATA_TAG]
    given = dict(t.split("=", 1) for t in tags.get("hydra_overrides", "").split() if "=" in t)
    choice = given.get("data") or _preset_data(study)
    data = {"kind": choice, **({"path": given["data.path"]} if "data.path" in given else {}),
            **({"network": given["data.network"]} if "data.network" in given else {})}
    return data_label(data, choice, given.get("cv.split"))


def verdict_records(runs: list[Run]) -> list[dict]:
    """One record per claim a FINISHED multirun parent decided: study, data source, claim, effect,
    95% CI, n (seeds, or TFs for a comparison's per-TF claims), verdict, parent run id and start.
    A parent holds its study's claim (``verdict``/``claim`` tags, ``verdict/*`` metrics) and, for a
    comparison study, more claims (``verdict/<key>`` / ``claim/<key>`` tags, ``verdict/<key>/*``)."""
    records = []
    for run in runs:
        tags, metrics = run.data.tags, run.data.metrics
        study = tags.get("study", "adhoc")
        source = parent_data_label(tags, study)
        claims = [("", tags.get("claim"), tags.get("verdict"))] if tags.get("verdict") else []
        claims += [(key[len("verdict/"):], tags.get(f"claim/{key[len('verdict/'):]}"), value)
                   for key, value in tags.items() if key.startswith("verdict/")]
        for key, claim, verdict in claims:
            prefix = f"verdict/{key}/" if key else "verdict/"
            n_tfs = metrics.get(f"{prefix}n_tfs")
            records.append({"study": study, "data": source, "claim": claim or f"{study} {key}".strip(),
                            "effect": metrics.get(f"{prefix}effect", float("nan")),
                            "ci_low": metrics.get(f"{prefix}ci_low", float("nan")),
                            "ci_high": metrics.get(f"{prefix}ci_high", float("nan")),
                            "n": n_tfs if n_tfs is not None else metrics.get(f"{prefix}n_seeds", float("nan")),
                            "n_of": "TFs" if n_tfs is not None else "seeds",
                            "verdict": verdict, "run_id": run.info.run_id, "start_time": run.info.start_time})
    return records


def verdict_matrix_figure(matrix: pd.DataFrame, long: pd.DataFrame):
    """The claim x data source matrix as a coloured table (green supported, red contradicted)."""
    sources = [c for c in matrix.columns if c != "claim"]
    fig, ax = plt.subplots(figsize=(max(8.0, 3.2 * len(sources) + 4.5), 0.55 * len(matrix) + 1.4))
    ax.axis("off")
    verdict = {(r["claim"], r["data"]): r["verdict"] for r in long.to_dict("records")}
    text = [["\n".join(textwrap.wrap(str(row["claim"]), 45))] + [str(row[s]).replace("] ", "]\n", 1) for s in sources]
            for _, row in matrix.iterrows()]
    table = ax.table(cellText=text, colLabels=["claim", *sources], loc="center", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    table.scale(1, 2.4)
    for (i, j), cell in table.get_celld().items():
        if i > 0 and j > 0:
            cell.set_facecolor(VERDICT_COLORS.get(verdict.get((matrix.iloc[i - 1]["claim"], sources[j - 1])), "white"))
    ax.set_title("Paper claims x data source: effect [95% CI] and verdict (newest multirun of each)", fontsize=9)
    return fig
