"""Paper Fig. 3 on real data (preset ``fig3_real``), the controls in every comparison, ``task=compare``
after a sweep that reused finished runs, studies on any data source (cells as fractions, MAGIC on
log values, the data source in every verdict) and the claim x data source matrix of the report."""
import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from deepdrim import comparison as compare
from deepdrim.verdicts import verdict_matrix as build_verdict_matrix
from experiments.reports import fig3, verdict_matrix
from experiments.reports import comparison
from experiments.tasks import report
from sim.subsample import cell_count, check_cells
from tests.conftest import TINY_SIM


# ------------------------------------------------------------------------------ data sources
def test_data_label_names_the_source():
    assert fig3.data_label({"kind": "beeline", "path": "/data/mDC-specific-500/"}, "beeline") == \
        "beeline:mDC-specific-500"
    assert fig3.data_label({"kind": "beeline", "path": "d/mHSC", "network": "d/mHSC/networks/STRING.csv"}) == \
        "beeline:mHSC+network=STRING"
    assert fig3.data_label({"kind": "h5ad", "path": "x/cells.h5ad"}) == "h5ad:cells"
    assert fig3.data_label({"kind": "sim", "n_cells": 4000}, "template") == "template"
    assert fig3.data_label({"kind": "sergio"}, None) == "sergio"
    # another CV split is another column of the claim x data source matrix; the default adds nothing
    assert fig3.data_label({"kind": "sergio"}, None, "strict") == "sergio split=strict"
    assert fig3.data_label({"kind": "beeline", "path": "d/mDC"}, None, "tf") == "beeline:mDC"


def test_cells_are_counts_or_fractions_of_the_data():
    assert cell_count(None, 383) is None
    assert cell_count(100, 383) == 100
    # the fig4a preset's fractions are the paper's counts on the 4,000-cell template
    assert [cell_count(f, 4000) for f in (0.005, 0.0125, 0.025, 0.05, 0.125, 0.25, 0.5, 1.0)] == \
        [20, 50, 100, 200, 500, 1000, 2000, 4000]
    assert [cell_count(f, 383) for f in (0.005, 0.05, 1.0)] == [2, 19, 383]  # at least 2
    with pytest.raises(ValueError, match=r"^cells=500 is larger than the data \(383 cells\)"):
        cell_count(500, 383)
    with pytest.raises(ValueError, match=r"^cells=1.5: a float is a fraction"):
        cell_count(1.5, 383)
    with pytest.raises(ValueError, match=r"^cells must be an integer count >= 2"):
        check_cells("cells", 1)


@pytest.fixture(scope="module")
def beeline_folder(tmp_path_factory):
    """A tiny BEELINE folder (the tiny simulation, log-transformed like BEELINE's processed values)."""
    from experiments.config.data import export_simulation

    folder = tmp_path_factory.mktemp("beeline") / "tiny-beeline"
    export_simulation(folder, {k: v for k, v in TINY_SIM.items() if k != "kind"}, seed=0)
    path = folder / "ExpressionData.csv"
    frame = pd.read_csv(path, index_col=0)
    np.log1p(frame).round(4).to_csv(path)
    return folder


@pytest.mark.parametrize("preset", ["fig4a_cells", "fig4b_dropout", "fig4c_neighbors", "fig4d_train_fraction"])
def test_every_fig4_study_composes_on_real_data(preset, beeline_folder):
    from experiments.config import cli

    jobs = cli.validate(["-m", f"experiment={preset}", "data=beeline", f"data.path={beeline_folder}"])
    assert jobs and all(job.data.kind == "beeline" and job.study == preset for job in jobs)
    if preset == "fig4a_cells":  # fractions: every value fits the folder's 120 cells
        assert {cell_count(job.cells, 120) for job in jobs} == {2, 3, 6, 15, 30, 60, 120}
    with pytest.raises(ValueError, match=r"cells=500 is larger than the data \(120 cells\)"):
        cli.validate(["-m", "experiment=fig4a_cells", "data=beeline", f"data.path={beeline_folder}", "cells=100,500"])


def test_fig3_real_preset_composes(config):
    cfg = config("experiment=fig3_real", "data.path=DIR", hydra=True)
    assert cfg.data.kind == "beeline" and cfg.study == "fig3_real" and cfg.figure.kind == "comparison"
    assert cfg.hydra.sweeper.params.method == "deepdrim,cnnc,pcc,mi,genie3"
    assert cfg.figure.paper.deepdrim_median_auroc == 0.789 and cfg.figure.paper.second_best_median_auroc == 0.591


# ------------------------------------------------------------------------------ comparison, controls, verdicts
def _method_run(method, per_tf_auroc, label=None, role="method"):
    tfs = [f"TF{i}" for i in range(len(per_tf_auroc))]
    table = pd.DataFrame({"tf": tfs, "auroc": per_tf_auroc, "auprc": per_tf_auroc})
    return compare.MethodRun(f"id-{method}", method, label or compare.DISPLAY.get(method, method), "", {}, table, role)


def test_control_rows_come_from_the_predictions():
    rng = np.random.default_rng(0)
    n = 60
    predictions = pd.DataFrame({"tf": np.repeat(["A", "B", "C"], n // 3), "label": np.tile([0, 1], n // 2),
                                "score": rng.random(n), "prior": np.tile([0.2, 0.8], n // 2),
                                "fold": np.repeat([0, 1, 1], n // 3)})
    source = _method_run("deepdrim", [0.5])
    rows = compare.control_runs(predictions, source)
    assert [r.method for r in rows] == ["prior"] and rows[0].role == "control"
    assert rows[0].per_tf["auroc"].tolist() == [1.0, 1.0, 1.0] and rows[0].metrics["auroc"] == 1.0
    predictions["target_mean"] = np.tile([0.8, 0.2], n // 2)  # another helper's column, when present
    rows = compare.control_runs(predictions, source)
    assert [r.method for r in rows] == ["prior", "target_mean"] and rows[1].metrics["auroc"] == 0.0
    table = compare.comparison_table([source, *rows])
    assert table.role.tolist() == ["method", "control", "control"]


def test_fig3_verdicts_against_the_strongest_method_cnnc_and_each_control():
    rng = np.random.default_rng(1)
    base = rng.uniform(0.55, 0.65, 12)
    runs = [_method_run("deepdrim", base + 0.2), _method_run("cnnc", base + 0.19 + rng.normal(0, 0.02, 12)),
            _method_run("pcc", base), _method_run("mi", base - 0.05),
            _method_run("prior", base + 0.3, "gene prior (control)", "control")]
    spec = {"reference": "deepdrim", "verdict": {"claim": "Fig. 3E-F", "metric": "auroc", "threshold": 0.0},
            "paper": {"deepdrim_median_auroc": 0.789}}
    found = {c.key: c for c in compare.comparison_verdicts(runs, spec)}
    assert list(found) == ["best_other", "vs_cnnc", "vs_prior"]
    assert "CNNC" in found["best_other"].other  # the strongest other method, controls left out
    assert found["vs_prior"].verdict == "contradicted" and found["vs_prior"].effect == pytest.approx(-0.1)
    assert found["vs_prior"].n_tfs == 12 and found["vs_prior"].p < 0.01
    metrics = compare.verdict_metrics(list(found.values()), spec)
    assert metrics["verdict/effect"] == pytest.approx(found["best_other"].effect)
    assert metrics["verdict/vs_prior/supported"] == 0.0 and metrics["paper/deepdrim_median_auroc"] == 0.789
    tags = compare.verdict_tags(list(found.values()), "beeline:x")
    assert tags["verdict_line"].startswith("[beeline:x] Fig. 3E-F") and tags["verdict/vs_prior"] == "contradicted"
    assert compare.comparison_verdicts([runs[2], runs[3]], spec) == []  # no DeepDRIM run: no verdict


def _trained(method, per_tf_auroc, failed):
    run = _method_run(method, per_tf_auroc)
    run.metrics = {"n_failed_folds": float(failed), **{f"fold{k}/learned": float(k >= failed) for k in range(3)}}
    return run


def test_target_only_ablation_is_a_claim_not_the_strongest_method():
    base = np.linspace(0.55, 0.75, 10)
    runs = [_trained("deepdrim", base + 0.01, 0), _trained("target_only", base + 0.1, 0), _method_run("pcc", base)]
    spec = {"reference": "deepdrim", "verdict": {"claim": "Fig. 3"}}
    found = {c.key: c for c in compare.comparison_verdicts(runs, spec)}
    assert list(found) == ["best_other", "vs_target_only"]
    assert found["best_other"].other.startswith("PCC")  # the ablation is higher, but no competitor
    assert found["vs_target_only"].verdict == "contradicted"
    assert found["vs_target_only"].effect == pytest.approx(-0.09)


def test_a_claim_whose_deepdrim_failed_to_learn_is_no_result_or_leaves_out_its_folds():
    base = np.linspace(0.55, 0.75, 10)
    spec = {"reference": "deepdrim", "verdict": {"claim": "Fig. 3"}}
    # CNNC sat at 0.5 in one fold of three: it learned nothing there; the verdict stands, the line says so
    runs = [_trained("deepdrim", base + 0.1, 0), _trained("cnnc", np.full(10, 0.5), 1), _method_run("pcc", base)]
    found = {c.key: c for c in compare.comparison_verdicts(runs, spec)}
    assert found["vs_cnnc"].verdict == "supported" and found["vs_cnnc"].effect > 0.1
    assert "CNNC failed to learn in 1 of 3 folds" in found["vs_cnnc"].line
    assert found["best_other"].verdict == "supported" and "failed" not in found["best_other"].line
    table = compare.comparison_table(runs)
    assert table.failed_folds.tolist()[:2] == [0.0, 1.0] and np.isnan(table.failed_folds[2])
    assert "CNNC (FAILED to learn)" in compare.format_table(table)
    assert compare.failed_folds_of({"fold0/learned": 1.0, "fold2/learned": 0.0, "fold2/auroc": 0.5}) == [2]
    # DeepDRIM failed in 1 fold of 3: that fold's TFs (constant scores, 0.5) are left out of its values
    broken = base + 0.1
    broken[:3] = 0.5
    runs[0] = _trained("deepdrim", broken, 1)
    runs[0].failed_tfs = frozenset({"TF0", "TF1", "TF2"})
    found = {c.key: c for c in compare.comparison_verdicts(runs, spec)}
    assert found["best_other"].verdict == "supported" and found["best_other"].n_tfs == 7
    assert found["best_other"].effect == pytest.approx(0.1)
    assert "DeepDRIM failed to learn in 1 of 3 folds: the TFs of those folds are left out" in found["best_other"].line
    # DeepDRIM itself failed in half its folds or more: every claim is no result, whatever its sign
    runs[0] = _trained("deepdrim", np.full(10, 0.5), 3)
    found = compare.comparison_verdicts(runs, spec)
    assert {c.verdict for c in found} == {"failed_to_learn"}
    metrics = compare.verdict_metrics(found)
    assert metrics["verdict/effect"] < 0 and "verdict/supported" not in metrics


def test_claims_work_on_plain_per_tf_series():
    """The library's claims need no runs: per-TF values by method and failed folds by method."""
    tfs = [f"TF{i}" for i in range(8)]
    values = {"deepdrim": pd.Series(np.linspace(0.7, 0.9, 8), index=tfs),
              "pcc": pd.Series(np.linspace(0.5, 0.6, 8), index=tfs),
              "prior": pd.Series(np.linspace(0.75, 0.95, 8), index=tfs[::-1])}  # paired by TF, not position
    spec = {"verdict": {"claim": "Fig. 3"}}
    found = {c.key: c for c in compare.claims(values, spec)}
    assert list(found) == ["best_other", "vs_prior"] and found["best_other"].verdict == "supported"
    assert found["vs_prior"].n_tfs == 8 and found["vs_prior"].effect == pytest.approx(-0.05)
    failed = compare.claims(values, spec, {"deepdrim": (2, 3)})
    assert {c.verdict for c in failed} == {"failed_to_learn"}
    assert [c.effect for c in failed] == [c.effect for c in found.values()]  # the numbers are kept
    assert compare.claims({"pcc": values["pcc"]}, spec) == []


# ------------------------------------------------------------------------------ the claim x data source matrix
def _record(claim, data, effect, verdict, start, n=3, n_of="seeds"):
    return {"study": "s", "claim": claim, "data": data, "effect": effect, "ci_low": effect - 0.05,
            "ci_high": effect + 0.05, "n": n, "n_of": n_of, "verdict": verdict, "run_id": f"r{start}",
            "start_time": start}


def test_verdict_matrix_is_claim_by_data_source_with_the_newest_parent():
    records = [_record("Fig. 4C", "template", -0.004, "inconclusive", 1),
               _record("Fig. 4C", "template", 0.1, "supported", 5),  # newer: replaces the first
               _record("Fig. 4C", "beeline:mDC", -0.2, "contradicted", 2),
               {**_record("DeepDRIM > gene prior", "beeline:mDC", -0.1, "contradicted", 3, 20, "TFs"), "study": "f3"},
               # an older parent of the same study and source, its claim worded otherwise: replaced
               {**_record("DeepDRIM > the prior, old wording", "beeline:mDC", 0.3, "supported", 0, 20, "TFs"),
                "study": "f3"}]
    matrix, long = build_verdict_matrix(records)
    assert list(matrix.columns) == ["claim", "beeline:mDC", "template"]
    cells = matrix.set_index("claim")
    assert cells.loc["Fig. 4C", "template"] == "+0.100 [+0.050, +0.150] supported, 3 seeds"
    assert cells.loc["Fig. 4C", "beeline:mDC"].endswith("contradicted, 3 seeds")
    assert cells.loc["DeepDRIM > gene prior", "beeline:mDC"].endswith("20 TFs")
    assert cells.loc["DeepDRIM > gene prior", "template"] == ""  # not run there
    assert len(long) == 3 and set(long.run_id) == {"r5", "r2", "r3"}
    assert build_verdict_matrix([])[0].empty


def test_verdict_records_read_study_and_comparison_parents():
    def run(tags, metrics, start):
        return SimpleNamespace(data=SimpleNamespace(tags=tags, metrics=metrics),
                               info=SimpleNamespace(run_id=f"p{start}", start_time=start))

    old = run({"study": "fig4c_neighbors", "claim": "Fig. 4C", "verdict": "inconclusive",
               "hydra_overrides": "scale=laptop"}, {"verdict/effect": -0.004, "verdict/ci_low": -0.015,
                                                    "verdict/ci_high": 0.007, "verdict/n_seeds": 3}, 1)
    real = run({"study": "fig3_real", "data_label": "beeline:mDC", "claim": "Fig. 3", "verdict": "supported",
                "verdict/vs_prior": "contradicted", "claim/vs_prior": "DeepDRIM > gene prior"},
               {"verdict/effect": 0.1, "verdict/ci_low": 0.05, "verdict/ci_high": 0.15, "verdict/n_tfs": 20,
                "verdict/vs_prior/effect": -0.1, "verdict/vs_prior/ci_low": -0.2, "verdict/vs_prior/ci_high": -0.01,
                "verdict/vs_prior/n_tfs": 20}, 2)
    records = verdict_matrix.verdict_records([old, real])
    assert [(r["claim"], r["data"], r["verdict"], r["n_of"]) for r in records] == [
        ("Fig. 4C", "template", "inconclusive", "seeds"),  # before the data tag: the preset's default data
        ("Fig. 3", "beeline:mDC", "supported", "TFs"), ("DeepDRIM > gene prior", "beeline:mDC", "contradicted", "TFs")]
    assert records[2]["effect"] == -0.1
    # a parent from before the data tag, swept under the strict split, gets its own column
    strict = run({"study": "fig3_real", "claim": "Fig. 3", "verdict": "inconclusive",
                  "hydra_overrides": "data=sergio cv.split=strict"}, {"verdict/effect": 0.0}, 3)
    assert verdict_matrix.verdict_records([strict])[0]["data"] == "sergio split=strict"


# ------------------------------------------------------------------------------ task=compare after reused runs
def test_compare_finds_the_runs_a_sweep_reused(tmp_path, empty_store):
    """A sweep whose DeepDRIM job was skipped (FINISHED before): the parent has only the PCC child,
    but lists the reused DeepDRIM run in study_runs.csv, so the p-values are computed."""
    import mlflow

    from experiments.reports.summaries import write_study_runs

    shutil.copy(empty_store, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    mlflow.set_tracking_uri(uri)
    exp = client.create_experiment("deepdrim", artifact_location=(tmp_path / "art").as_uri())
    rng = np.random.default_rng(0)

    def cv_run(method, shift, parent=None):
        run_id = client.create_run(exp, tags={"task": "cv", "method": method,
                                              **({"mlflow.parentRunId": parent} if parent else {})}).info.run_id
        folder = tmp_path / run_id
        folder.mkdir()
        per_tf = pd.DataFrame({"tf": [f"TF{i}" for i in range(8)], "auroc": 0.6 + shift + rng.normal(0, 0.02, 8),
                               "auprc": 0.6 + shift + rng.normal(0, 0.02, 8)})
        per_tf.to_csv(folder / "per_tf_metrics.csv", index=False)
        client.log_artifact(run_id, str(folder / "per_tf_metrics.csv"))
        predictions = pd.DataFrame({"tf": np.repeat([f"TF{i}" for i in range(8)], 4), "label": np.tile([0, 1], 16),
                                    "score": rng.random(32), "prior": rng.random(32), "fold": 0})
        predictions.to_csv(folder / "predictions.csv", index=False)
        client.log_artifact(run_id, str(folder / "predictions.csv"))
        client.set_terminated(run_id, "FINISHED")
        return run_id

    earlier = cv_run("deepdrim", 0.2)
    parent = client.create_run(exp, tags={"kind": "multirun"}).info.run_id
    child = cv_run("pcc", 0.0, parent)
    listed = write_study_runs([client.get_run(earlier), client.get_run(child)], tmp_path / "sweep")
    client.log_artifact(parent, str(listed))
    client.set_terminated(parent, "FINISHED")
    found_parent, runs = comparison.find_multirun(client, exp)
    assert found_parent.info.run_id == parent and {r.info.run_id for r in runs} == {earlier, child}
    fetched = comparison.fetch(runs)
    fetched += comparison.fetch_controls(fetched)
    table = compare.comparison_table(fetched).set_index("label")
    assert table.loc["PCC", "p_auroc"] == pytest.approx(0.0078125)  # 8 TFs, all better: 2 / 2^8
    assert table.loc["gene prior (control)", "role"] == "control" and np.isfinite(table.loc["gene prior (control)",
                                                                                           "p_auroc"])


# ------------------------------------------------------------------------------ end to end
TINY_TRAIN = ["cv.n_folds=2", "model.conv_filters=[4,4,4]", "model.embedding=8",
              "model.dense_units=[8,4]", "training.epochs=1", "training.min_epochs=0"]


@pytest.mark.slow
def test_fig3_real_runs_on_a_tiny_beeline_folder_and_compare_reuses_it(tmp_path, beeline_folder, run_py):
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    args = ["-m", "experiment=fig3_real", f"data.path={beeline_folder}", "method=deepdrim,cnnc,pcc",
            f"paths.store={tmp_path / 'store'}", f"hydra.sweep.dir={tmp_path / 'sweep'}", *TINY_TRAIN]
    done = run_py(*args, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "gene prior (control)" in done.stdout and "verdict: [beeline:tiny-beeline]" in done.stdout
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("fig3_real").experiment_id

    def parents():
        return client.search_runs([exp], "tags.kind = 'multirun'", order_by=["attributes.start_time DESC"])

    first = parents()[0]
    assert first.info.status == "FINISHED" and first.data.tags["data_label"] == "beeline:tiny-beeline"
    table = pd.read_csv(client.download_artifacts(first.info.run_id, "comparison.csv", str(tmp_path)))
    assert {"CNNC", "PCC"} <= set(table.label)  # a tiny DeepDRIM that did not learn keeps its row too
    deepdrim_row = table[table.method == "deepdrim"].iloc[0]
    logged = [k for k in first.data.metrics if k.startswith("compare/DeepDRIM") and k.endswith("/median_auroc")]
    assert logged == ["compare/DeepDRIM neighbors_10/median_auroc"]  # labelled by method and neighbors
    assert first.data.metrics[logged[0]] == pytest.approx(deepdrim_row.median_auroc)
    assert "compare/gene prior _control_/median_auroc" in first.data.metrics
    assert first.data.metrics["paper/deepdrim_median_auroc"] == 0.789
    if deepdrim_row.failed_folds > 0:  # a tiny DeepDRIM that did not learn: its claims are no result
        assert first.data.tags["verdict"] == "failed_to_learn" == first.data.tags["verdict/vs_prior"]
    else:
        assert first.data.tags["verdict"] in ("supported", "contradicted", "inconclusive")
    assert "verdict/vs_prior" in first.data.tags and "verdict/vs_cnnc" in first.data.tags
    names = {a.path for a in client.list_artifacts(first.info.run_id)}
    assert {"comparison.csv", "comparison.png", "study_runs.csv"} <= names
    # again: every job is skipped (FINISHED), the new parent still compares them, DeepDRIM included
    again = run_py(*args, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("[skip]") == 3 and "p-values are NaN" not in again.stdout + again.stderr
    second = parents()[0]
    assert second.info.run_id != first.info.run_id
    nan = float("nan")
    assert second.data.metrics.get("compare/PCC/p_auroc", nan) == pytest.approx(
        first.data.metrics.get("compare/PCC/p_auroc", nan), nan_ok=True)
    # task=compare on that parent: the same table
    out = run_py("task=compare", f"tracking.uri={uri}", "tracking.experiment=fig3_real",
                 f"hydra.run.dir={tmp_path / 'compare'}", timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "no DeepDRIM run" not in out.stdout + out.stderr
    table = pd.read_csv(tmp_path / "compare" / "comparison.csv").set_index("label")
    first_table = pd.read_csv(client.download_artifacts(first.info.run_id, "comparison.csv", str(tmp_path)))
    pd.testing.assert_series_equal(table["median_auroc"], first_table.set_index("label")["median_auroc"])  # NaN = NaN
    # the report draws the fig3 panel and the claim x data source matrix
    page, panels = report.build(uri, tmp_path / "report", log_run=False)
    keyed = {p.key: p for p in panels}
    assert keyed["fig3_real"].png is not None and keyed["verdict_matrix"].png is not None
    assert "beeline:tiny-beeline" in keyed["verdict_matrix"].tables[0][1].columns


def test_max_drop_leaves_out_the_reference_itself():
    """Dropout that only helps: the largest "drop" is the smallest gain, not the reference's 0 +- 0."""
    from deepdrim.verdicts import study_verdict

    table = pd.DataFrame({"x": [0.0, 0.5, 0.0, 0.5], "line": 0.5, "seed": [0, 1, 0, 1][:2] * 2,
                          "auroc": [0.44, 0.50, 0.45, 0.50]})
    table["seed"] = [0, 0, 1, 1]
    v = study_verdict(table, {"effect": "max_drop", "reference": 0.0, "tolerance": 0.02})
    assert v.effect == pytest.approx(-0.055) and v.details["worst_x"] == 0.5
