"""``task=report``: the paper's figures from the MLflow store.

Reads the runs the studies, comparisons and searches left (never re-runs anything) and writes one
self-contained ``report.html`` (figures base64-embedded) plus the PNGs and ``sources.json`` (the
run ids behind each panel) into the output folder, then logs them as artifacts of a ``report``
run. Panels (:mod:`experiments.reports.report_panels`, :mod:`experiments.reports.store_panels`): the
claim x data source matrix, Fig. 1B, Fig. 4 A-D, the fig3_real comparison, every CV run, the
newest ad-hoc method comparison and hyperparameter search. A panel without runs says so instead of
failing. The paper's numbers are drawn as markers labelled "paper" (its real data, not ours).
"""
from __future__ import annotations

import base64
import html
import json
import os
import time
from pathlib import Path
from typing import Callable

import pandas as pd

from deepdrim.files import write_csv, write_text
from experiments.reports import figures
from experiments.reports.report_panels import (PAPER_MEDIAN, Panel, fig3_panel, open_store, study_panel,
                                               verdict_matrix_panel)
from experiments.reports.store_panels import comparison_panel, runs_panel, search_panel
from experiments.tracking import job_runs

REPORT_EXPERIMENT = "report"


# ---------------------------------------------------------------------------- HTML
def _img(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img alt="{html.escape(path.name)}" src="data:image/png;base64,{data}">'


def _paper_text() -> str:
    """The paper's reference values the report shows, from the presets and :data:`PAPER_MEDIAN`."""
    items = [f"{study} {key} {value:g}" if spec.get("kind") == "comparison" else f"{study} {key} {value:.1%}"
             for study, spec in figures.study_specs().items()
             for key, value in (spec.get("paper") or {}).items()]
    items += [f"median {k.upper()} {v} on its real data" for k, v in PAPER_MEDIAN.items()]
    return "; ".join(items)


def render_html(panels: list[Panel], uri: str, generated: str) -> str:
    """One self-contained page: every figure inline, the runs behind it under it."""
    parts = [f"""<!doctype html><html><head><meta charset="utf-8"><title>deepdrim-suite report</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}} img{{max-width:100%}}
table{{border-collapse:collapse;font-size:12px;margin:.5em 0}} td,th{{border:1px solid #ccc;padding:2px 6px}}
.runs{{font-family:monospace;font-size:11px;color:#555;word-break:break-all}} .none{{color:#a00}}</style></head><body>
<h1>deepdrim-suite report</h1><p>MLflow store <code>{html.escape(uri)}</code>, generated {html.escape(generated)}.
Values labelled <b>paper</b> are the DeepDRIM paper's numbers ({html.escape(_paper_text())}),
not results of these runs.</p>"""]
    rows = [p.verdict for p in panels if p.verdict]
    if rows:
        parts.append("<h2>Paper claims: measured verdicts</h2><p>Effect with its 95% t-interval over seeds; "
                     "supported / contradicted when the whole interval is on one side of the claim's threshold "
                     "(<code>figure.verdict</code> in each preset, <code>deepdrim/verdicts.py</code>).</p>"
                     + pd.DataFrame(rows).to_html(index=False, float_format=lambda v: f"{v:.4g}"))
    parts.append("<ul>" + "".join(f'<li><a href="#{p.key}">{html.escape(p.title)}</a>'
                                  f'{" - no runs" if p.png is None and not p.tables else ""}</li>' for p in panels) + "</ul>")
    for p in panels:
        parts.append(f'<h2 id="{p.key}">{html.escape(p.title)}</h2>')
        if p.png is None and not p.tables:
            parts.append(f'<p class="none">{html.escape(p.note or "no runs")}</p>')
            continue
        if p.png is not None:
            parts.append(_img(p.png))
        if p.note:
            parts.append(f"<p>{html.escape(p.note)}</p>")
        for caption, frame in p.tables:
            parts.append(f"<p><i>{html.escape(caption)}</i></p>" + frame.to_html(index=False, float_format=lambda v: f"{v:.4g}"))
        parts.append(f'<p class="runs">MLflow runs ({len(p.run_ids)}): {html.escape(" ".join(p.run_ids))}</p>')
    parts.append("</body></html>")
    return "\n".join(parts)


def panels_to_draw() -> list[tuple[str, Callable]]:
    """(key, make(client, out)) per report section: the claim x data source matrix, the CV runs (curves
    and table: any store with a job has them), every study preset with a ``figure``, then the
    method comparison and the newest search."""
    studies = [(study, (lambda s, f: lambda client, out: (fig3_panel if f.get("kind") == "comparison"
                                                          else study_panel)(client, out, s, f))(study, spec))
               for study, spec in figures.study_specs().items()]
    return [("verdict_matrix", verdict_matrix_panel), ("runs", runs_panel), *studies, ("comparison", comparison_panel),
            ("search", search_panel)]


def build(uri: str, output_dir: Path, log_run: bool = True,
          artifact_root: str = "mlflow/artifacts") -> tuple[Path, list[Panel]]:
    """Write report.html, the PNGs and sources.json into ``output_dir``; log them to a
    ``report`` run (:func:`tracking.run_job`) unless ``log_run`` is False. Returns the HTML path
    and the panels."""
    from omegaconf import OmegaConf

    client = open_store(uri)
    out = Path(output_dir)
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"  # no bar per downloaded CSV
    panels = []
    for key, make in panels_to_draw():
        try:
            panels.append(make(client, out))
        except Exception as error:  # noqa: BLE001 - one broken panel must not sink the report
            panels.append(Panel(key, key, note=f"panel failed: {type(error).__name__}: {str(error)[:300]}"))
    generated = time.strftime("%Y-%m-%d %H:%M:%S")
    page = write_text(render_html(panels, uri, generated), out / "report.html")
    sources = {p.key: {"title": p.title, "png": p.png.name if p.png else None, "runs": p.run_ids, "note": p.note}
               for p in panels}
    files = [page, write_text(json.dumps(sources, indent=2), out / "sources.json")]
    rows = [p.verdict for p in panels if p.verdict]
    if rows:
        files.append(write_csv(pd.DataFrame(rows), out / "verdicts.csv"))
    files += [p.png for p in panels if p.png is not None]
    if log_run:
        cfg = OmegaConf.create({"tracking": {"uri": uri, "artifact_root": artifact_root,
                                             "experiment": REPORT_EXPERIMENT, "run_name": f"report {generated}"}})
        metrics = {"n_panels_drawn": float(sum(p.png is not None for p in panels)),
                   "n_panels_empty": float(sum(p.png is None for p in panels))}
        job_runs.run_job(cfg, out, "", "report", lambda: job_runs.JobResult(metrics, files), resume=False,
                         params={}, tags={"kind": "report"})
    return page, panels


def _print(page: Path, panels: list[Panel]) -> None:
    for p in panels:
        state = f"{len(p.run_ids)} run(s)" if p.png is not None else (p.note or "no runs")
        print(f"  {p.key:22s} {state}")
    print(f"report: {page}")


def run(cfg, output_dir: Path, overrides: str = "") -> dict[str, float]:
    """The ``task=report`` job: the report of ``tracking.uri`` into the job's output folder."""
    page, panels = build(str(cfg.tracking.uri), Path(output_dir), artifact_root=str(cfg.tracking.artifact_root))
    _print(page, panels)
    return {"n_panels_drawn": float(sum(p.png is not None for p in panels)),
            "n_panels_empty": float(sum(p.png is None for p in panels))}
