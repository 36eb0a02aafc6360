"""Which verdict holds where: every claim a FINISHED study parent decided (:func:`verdict_records`),
laid out as claim x data source by :func:`deepdrim.verdicts.verdict_matrix` (the newest parent of
each cell) and drawn as a coloured table (:func:`deepdrim.plotting.verdict_matrix`) by ``task=report``.

A parent's data source is its ``data_label`` tag (:func:`experiments.reports.fig3.data_label`: the data
config or folder, plus the CV split when it is not ``tf``), else read from its overrides, else the
preset's default data.
"""
from __future__ import annotations

from mlflow.entities import Run

from experiments.reports import figures


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
