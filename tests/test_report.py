"""task=report: the HTML report from a store holding runs of every kind (logged directly with the
params, metrics, tags and artifacts the jobs write), from one holding none of them, and errors."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from experiments.reports import figures
from experiments.tasks import report

SPECS = figures.study_specs()
FIG4 = {study: spec for study, spec in SPECS.items() if spec.get("kind") not in ("ggm", "comparison", "direction")}


@pytest.fixture(scope="module")
def populated(tmp_path_factory, empty_store):
    """A store with runs of every kind (artifacts beside it), and the run ids per panel."""
    folder = tmp_path_factory.mktemp("populated")
    client, _ = _client(folder, empty_store)
    return folder / "mlflow.db", populate(client, folder)


def _client(tmp_path, template):
    shutil.copy(template, tmp_path / "mlflow.db")
    return MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}"), f"sqlite:///{tmp_path / 'mlflow.db'}"


def _experiment(client, name, tmp_path):
    found = client.get_experiment_by_name(name)
    if found:
        return found.experiment_id
    return client.create_experiment(name, artifact_location=(tmp_path / "artifacts" / name).as_uri())


def _run(client, experiment_id, params=None, metrics=None, tags=None, files=None, tmp_path=None):
    run = client.create_run(experiment_id, tags=tags or {})
    run_id = run.info.run_id
    for key, value in (params or {}).items():
        client.log_param(run_id, key, value)
    for key, value in (metrics or {}).items():
        client.log_metric(run_id, key, value)
    for name, frame in (files or {}).items():
        path = tmp_path / "files" / run_id / name
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
        client.log_artifact(run_id, str(path))
    client.set_terminated(run_id, "FINISHED")
    return run_id


def _predictions(shift, n=40, seed=0):
    """A CV job's predictions.csv: labels, its scores (better with ``shift``), Pearson and prior."""
    rng = np.random.default_rng(seed)
    label = np.tile([1, 0], n // 2)
    return pd.DataFrame({"tf": [f"TF{i % 8}" for i in range(n)], "target": [f"g{i}" for i in range(n)],
                         "label": label, "score": label * shift + rng.uniform(0, 1, n),
                         "pcc": rng.uniform(0, 1, n), "prior": rng.uniform(0, 1, n), "fold": np.arange(n) % 2})


def _per_tf(shift, n=8):
    rng = np.random.default_rng(int(shift * 100))
    return pd.DataFrame({"tf": [f"TF{i}" for i in range(n)], "n_pairs": 10, "n_positive": 5,
                         "auroc": np.clip(0.6 + shift + rng.normal(0, 0.05, n), 0, 1),
                         "auprc": np.clip(0.6 + shift + rng.normal(0, 0.05, n), 0, 1)})


def populate(client, tmp_path) -> dict:
    """Runs of every kind the report reads; returns panel key -> the run ids it must name."""
    ids = {}
    exp = _experiment(client, "fig1_ggm", tmp_path)
    ids["fig1_ggm"] = [_run(client, exp, {"seed": seed, "ggm.n_datasets": 100, "ggm.n_genes": 4}, {
        "primary/fp": 20 + seed, "primary/fp_random": 8 + seed, "primary/fp_transitive": 12,
        "augmented/fp": 12, "augmented/fp_random": 6, "augmented/fp_transitive": 6,
        "deepdrim/fp": 10, "deepdrim/fp_random": 5, "deepdrim/fp_transitive": 5,
        "fp_reduction/augmented": 0.4, "fp_reduction/augmented_transitive": 0.5,
        "fp_reduction/deepdrim": 0.5, "fp_reduction/deepdrim_transitive": 0.58},
        {"study": "fig1_ggm", "task": "fig1_ggm"}) for seed in (0, 1)]
    exp = _experiment(client, "direction", tmp_path)
    ids["direction"] = [_run(client, exp, {"seed": seed}, {
        **{f"{m}/{k}": 0.6 + 0.05 * seed for m in ("deepdrim", "cnnc", "combined", "baseline")
           for k in ("existence_auroc", "fpr_matched", "direction_auroc", "pairwise_direction_accuracy")},
        "fpr_drop_matched/combined": 0.1 * seed}, {"study": "direction", "task": "direction"}) for seed in (0, 1)]
    for study, spec in FIG4.items():
        knob, group = spec["x"], spec.get("line")
        exp = _experiment(client, study, tmp_path)
        ids[study] = []
        for value in {"n_cells": (100, 500), "neighbors": (0, 10)}.get(knob, (0.2, 0.8)):
            for seed in (0, 1):
                params = {"neighbors": 10, knob: value, "seed": seed, "method": "deepdrim"}
                if group:
                    params[group] = 0.5
                ids[study].append(_run(client, exp, params, {"auroc": 0.6 + 0.1 * seed, "auprc": 0.55 + 0.1 * seed},
                                       {"study": study, "task": "cv", "method": "deepdrim"}))
    exp = _experiment(client, "deepdrim", tmp_path)
    parent = _run(client, exp, tags={"kind": "multirun"})
    children = [_run(client, exp, {"method": m, "neighbors": 10}, {"auroc": 0.7, "epr": 1.5},
                     {"task": "cv", "method": m, "mlflow.parentRunId": parent},
                     {"per_tf_metrics.csv": _per_tf(s), "predictions.csv": _predictions(s)}, tmp_path)
                for m, s in (("deepdrim", 0.2), ("pcc", 0.0))]
    per_tf = pd.concat([_per_tf(s).assign(method=m, label=label, run_id=r) for (m, s, label), r in
                        zip((("deepdrim", 0.2, "DeepDRIM"), ("pcc", 0.0, "PCC")), children)])
    table = pd.DataFrame({"method": ["deepdrim", "pcc"], "label": ["DeepDRIM", "PCC"], "median_auroc": [0.8, 0.6],
                          "median_auprc": [0.8, 0.6], "epr": [1.5, 1.1], "p_auroc": [np.nan, 0.0078],
                          "p_auprc": [np.nan, 0.0156], "n_tfs": [8, 8], "run_id": children})
    client.log_artifact(parent, str(_csv(table, tmp_path / "cmp" / "comparison.csv")))
    client.log_artifact(parent, str(_csv(per_tf, tmp_path / "cmp" / "comparison_per_tf.csv")))
    ids["comparison"] = [parent, *children]
    ids["runs"] = [i for study in FIG4 for i in ids[study]] + children  # every CV run; curves of the children
    # a fig3_real parent (comparison, verdicts, data source) and a fig4c parent with its verdict: the
    # fig3 panel and the claim x data source matrix
    import matplotlib.pyplot as plt

    exp = _experiment(client, "fig3_real", tmp_path)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([0, 1], [0, 1])
    (tmp_path / "fig3").mkdir(exist_ok=True)
    fig.savefig(tmp_path / "fig3" / "comparison.png")
    plt.close(fig)
    fig3_parent = _run(client, exp, metrics={"verdict/effect": 0.1, "verdict/ci_low": 0.05, "verdict/ci_high": 0.15,
                                             "verdict/n_tfs": 8, "verdict/vs_prior/effect": -0.05,
                                             "verdict/vs_prior/ci_low": -0.1, "verdict/vs_prior/ci_high": 0.0,
                                             "verdict/vs_prior/n_tfs": 8},
                       tags={"kind": "multirun", "study": "fig3_real", "data_label": "beeline:tiny",
                             "claim": "Fig. 3E-F", "verdict": "supported", "verdict/vs_prior": "inconclusive",
                             "claim/vs_prior": "DeepDRIM > gene prior", "verdict_line": "[beeline:tiny] Fig. 3E-F"})
    client.log_artifact(fig3_parent, str(tmp_path / "fig3" / "comparison.png"))
    client.log_artifact(fig3_parent, str(_csv(table.assign(role="method"), tmp_path / "fig3" / "comparison.csv")))
    ids["fig3_real"] = [fig3_parent, *children]
    exp = _experiment(client, "fig4c_neighbors", tmp_path)
    fig4c_parent = _run(client, exp, metrics={"verdict/effect": -0.004, "verdict/ci_low": -0.015,
                                              "verdict/ci_high": 0.007, "verdict/n_seeds": 3},
                        tags={"kind": "multirun", "study": "fig4c_neighbors", "data_label": "template",
                              "claim": "Fig. 4C: more neighbor images, better performance", "verdict": "inconclusive"})
    ids["verdict_matrix"] = [fig3_parent, fig4c_parent]
    exp = _experiment(client, "search", tmp_path)
    study = _run(client, exp, metrics={"best_value": 0.8, "test/auroc": 0.75, "test/auprc": 0.74},
                 tags={"kind": "search", "optuna_study": "s", "metric": "val_auprc", "direction": "maximize",
                       "best.learning_rate": "0.01", "rerun_command": "python run.py training.learning_rate=0.01"})
    trials = [_run(client, exp, {"learning_rate": 0.01 * (n + 1)}, metrics,
                   {"kind": "search-trial", "trial_number": str(n), "state": state, "mlflow.parentRunId": study})
              for n, (state, metrics) in enumerate((("COMPLETE", {"objective": 0.7}), ("COMPLETE", {"objective": 0.8}),
                                                    ("PRUNED", {"reported/val_auprc": 0.4})))]
    best = _run(client, exp, {"training.learning_rate": 0.02}, {"auroc": 0.75, "auprc": 0.74},
                {"kind": "search-best", "trial_number": "1", "mlflow.parentRunId": study})
    ids["search"] = [study, *trials, best]
    return ids


def _csv(frame, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def test_report_renders_every_panel_and_names_its_runs(tmp_path, populated):
    client, uri = _client(tmp_path, populated[0])
    expected = populated[1]
    page, panels = report.build(uri, tmp_path / "out")
    text = page.read_text()
    assert [p.key for p in panels] == ["verdict_matrix", "runs", *SPECS, "comparison", "search"]
    assert text.count("data:image/png;base64,") == 11 and "no runs" not in text
    sources = json.loads((tmp_path / "out" / "sources.json").read_text())
    for key, run_ids in expected.items():
        assert set(sources[key]["runs"]) == set(run_ids), key
        assert all(run_id in text for run_id in run_ids)
        assert (tmp_path / "out" / sources[key]["png"]).stat().st_size > 1000
    assert "paper" in text and "0.789" in text and "40.4%" in text
    fig1b = next(p for p in panels if p.key == "fig1_ggm").tables[0][1].set_index("metric")
    primary_random = fig1b.loc["primary/fp_random"]
    assert primary_random["mean"] == pytest.approx(8.5)
    assert primary_random["ci_high"] - primary_random["mean"] == pytest.approx(6.353, rel=1e-3)
    assert fig1b.loc["fp_reduction/augmented", "paper"] == pytest.approx(0.404)
    fig4a = next(p for p in panels if p.key == "fig4a_cells").tables[0][1]
    assert list(fig4a["n_cells"]) == [100, 500] and fig4a["auroc_mean"].tolist() == pytest.approx([0.65, 0.65])
    matrix = next(p for p in panels if p.key == "verdict_matrix").tables[0][1].set_index("claim")
    assert list(matrix.columns) == ["beeline:tiny", "template"]
    assert matrix.loc["DeepDRIM > gene prior", "beeline:tiny"] == "-0.050 [-0.100, +0.000] inconclusive, 8 TFs"
    assert matrix.loc["Fig. 4C: more neighbor images, better performance", "template"].endswith("inconclusive, 3 seeds")
    # one table of every study's claim and verdict, the split each study used
    assert "Paper claims: measured verdicts" in text and "split: tf (TF-aware, the paper&#x27;s)" in text
    verdict_table = pd.read_csv(tmp_path / "out" / "verdicts.csv").set_index("study")
    assert set(verdict_table.index) == set(SPECS) - {"fig3_real"} and set(verdict_table.verdict) <= {
        "supported", "contradicted", "inconclusive"}
    # at 101 cells -> the grid's 500 = all cells: nothing to compare, no effect (not a difference of 0)
    assert np.isnan(verdict_table.loc["fig4a_cells", "effect"])
    assert verdict_table.loc["fig4a_cells", "verdict"] == "inconclusive"
    logged = client.search_runs([client.get_experiment_by_name("report").experiment_id])
    assert len(logged) == 1 and logged[0].info.status == "FINISHED"
    names = {a.path for a in client.list_artifacts(logged[0].info.run_id)}
    assert {"report.html", "sources.json", "fig1_ggm.png", "search_summary.png", "config.yaml"} <= names


def test_a_study_panel_draws_the_runs_its_newest_multirun_listed(tmp_path, empty_store):
    """Two variants of fig4c in one store (say raw- and log-ranked neighbors): the panel draws the
    runs the newest multirun parent listed in study_runs.csv, not the mix of both."""
    from experiments.reports.summaries import STUDY_RUNS, write_study_runs

    client, uri = _client(tmp_path, empty_store)
    exp = _experiment(client, "fig4c_neighbors", tmp_path)
    variants = {}
    for values, auroc in (("raw", 0.6), ("log", 0.9)):
        variants[values] = [_run(client, exp, {"neighbors": n, "seed": seed, "model.neighbor_values": values},
                                 {"auroc": auroc + 0.01 * seed, "auprc": 0.5},
                                 {"study": "fig4c_neighbors", "task": "cv", "config_hash": f"{values}{n}{seed}"})
                            for n in (0, 10) for seed in (0, 1)]
    listed = write_study_runs([client.get_run(i) for i in variants["raw"]], tmp_path / "sweep")
    assert pd.read_csv(listed)["config_hash"].tolist() == [f"raw{n}{s}" for n in (0, 10) for s in (0, 1)]
    parent = client.create_run(exp, tags={"kind": "multirun", "study": "fig4c_neighbors"}).info.run_id
    client.log_artifact(parent, str(listed))
    client.set_terminated(parent, "FINISHED")
    _, panels = report.build(uri, tmp_path / "out", log_run=False)
    panel = next(p for p in panels if p.key == "fig4c_neighbors")
    assert set(panel.run_ids) == set(variants["raw"]) and parent[:8] in panel.note
    assert panel.tables[0][1]["auroc_mean"].tolist() == pytest.approx([0.605, 0.605])
    assert listed.name == STUDY_RUNS


def test_comparison_is_recomputed_from_cv_runs_without_a_comparison(tmp_path, empty_store):
    client, uri = _client(tmp_path, empty_store)
    exp = _experiment(client, "deepdrim", tmp_path)
    runs = [_run(client, exp, {"method": m, "neighbors": 10}, {"auroc": 0.7}, {"task": "cv", "method": m},
                 {"per_tf_metrics.csv": _per_tf(s)}, tmp_path) for m, s in (("deepdrim", 0.2), ("pcc", 0.0))]
    study = _run(client, exp, {"method": "genie3", "neighbors": 10}, {"auroc": 0.9},  # newer, a study's: left out
                 {"task": "cv", "method": "genie3", "study": "fig4c_neighbors"}, {"per_tf_metrics.csv": _per_tf(0.3)},
                 tmp_path)
    _, panels = report.build(uri, tmp_path / "out", log_run=False)
    panel = next(p for p in panels if p.key == "comparison")
    assert panel.png is not None and set(panel.run_ids) == set(runs) and "recomputed" in panel.note
    assert study not in panel.run_ids
    table = panel.tables[0][1].set_index("label")
    assert table.loc["PCC", "p_auroc"] == pytest.approx(0.0078125)  # 8 TFs, all better: 2 / 2^8
    assert not client.get_experiment_by_name("report")


def test_comparison_labels_by_method_and_swept_values_within_one_multirun(tmp_path, empty_store):
    """`-m method=deepdrim neighbors=0,10` (the README's CNNC recipe) with paths on the command line:
    labelled "DeepDRIM neighbors=10" / "DeepDRIM neighbors=0", the first the reference, the second
    with a finite p; a newer study multirun of other methods and a seed=1 context never mix in."""
    client, uri = _client(tmp_path, empty_store)
    exp = _experiment(client, "deepdrim", tmp_path)
    parent = _run(client, exp, tags={"kind": "multirun", "study": "adhoc"})
    overrides = f"paths.outputs={tmp_path}/outputs tracking.uri={uri} method=deepdrim"
    children = {n: _run(client, exp, {"method": "deepdrim", "neighbors": n, "model.n_neighbors": n, "seed": 0},
                        {"auroc": 0.7}, {"task": "cv", "method": "deepdrim", "mlflow.parentRunId": parent,
                                         "study": "adhoc", "hydra_overrides": f"{overrides} neighbors={n}"},
                        {"per_tf_metrics.csv": _per_tf(shift)}, tmp_path) for n, shift in ((0, 0.0), (10, 0.2))}
    study_parent = _run(client, exp, tags={"kind": "multirun", "study": "fig3_real"})
    for method in ("deepdrim", "pcc"):
        _run(client, exp, {"method": method, "neighbors": 10, "seed": 0}, {"auroc": 0.8},
             {"task": "cv", "method": method, "mlflow.parentRunId": study_parent, "study": "fig3_real"},
             {"per_tf_metrics.csv": _per_tf(0.1)}, tmp_path)
    _, panels = report.build(uri, tmp_path / "out", log_run=False)
    panel = next(p for p in panels if p.key == "comparison")
    assert set(panel.run_ids) == {parent, *children.values()} and parent[:8] in panel.note
    table = panel.tables[0][1]
    assert list(table.label) == ["DeepDRIM neighbors=10", "DeepDRIM neighbors=0"]
    assert np.isnan(table.p_auroc.iloc[0]) and table.p_auroc.iloc[1] == pytest.approx(0.0078125)
    assert not any("/" in label or "paths" in label for label in table.label)


def test_a_store_with_one_default_job_shows_curves_and_a_table(tmp_path, empty_store):
    """What `make run` leaves: one CV job. The report draws its ROC / PR (with Pearson and the gene
    prior) and lists it; the panels that need more runs say so."""
    client, uri = _client(tmp_path, empty_store)
    exp = _experiment(client, "deepdrim", tmp_path)
    run = _run(client, exp, {"method": "deepdrim", "neighbors": 10, "seed": 0},
               {"auroc": 0.76, "auprc": 0.7, "median_tf_auroc": 0.78, "pcc/auroc": 0.7, "prior/auroc": 0.6},
               {"task": "cv", "method": "deepdrim", "study": "adhoc", "trust": "learned"},
               {"predictions.csv": _predictions(0.5)}, tmp_path)
    page, panels = report.build(uri, tmp_path / "out", log_run=False)
    panel = next(p for p in panels if p.key == "runs")
    assert panel.png is not None and panel.png.stat().st_size > 5000
    assert panel.run_ids == [run]
    table = panel.tables[0][1]
    assert len(table) == 1 and table["auroc"].iloc[0] == pytest.approx(0.76) and table["trust"].iloc[0] == "learned"
    text = page.read_text()
    assert text.count("data:image/png;base64,") == 1 and run in text
    assert next(p for p in panels if p.key == "comparison").note.startswith("no runs")


def test_report_from_a_store_without_any_study_says_so(tmp_path, empty_store):
    client, uri = _client(tmp_path, empty_store)
    _run(client, _experiment(client, "other", tmp_path), {"x": 1}, {"y": 2.0})
    page, panels = report.build(uri, tmp_path / "out")
    text = page.read_text()
    assert all(p.png is None for p in panels) and "data:image/png" not in text
    assert text.count('class="none">no runs') == len(panels)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["config.yaml", "report.html", "sources.json"]


def test_missing_or_empty_store_is_a_one_line_error(tmp_path, empty_store):
    with pytest.raises(ValueError, match=r"^no MLflow store at .*missing\.db: run some jobs first"):
        report.build(f"sqlite:///{tmp_path / 'missing.db'}", tmp_path / "out")
    assert not (tmp_path / "missing.db").exists() and not (tmp_path / "out").exists()
    _, uri = _client(tmp_path, empty_store)
    with pytest.raises(ValueError, match=r"^the MLflow store .* has no runs"):
        report.build(uri, tmp_path / "out")


@pytest.mark.slow
def test_run_py_task_report(tmp_path, populated, run_py):
    _, uri = _client(tmp_path, populated[0])
    done = run_py("task=report", f"tracking.uri={uri}", f"hydra.run.dir={tmp_path / 'out'}", timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "out" / "report.html").is_file() and "report:" in done.stdout
