"""The method comparison: Wilcoxon p-values as scipy's, files written, a multirun's parent gets them."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from scipy.stats import wilcoxon

from deepdrim.comparison import DISPLAY, MethodRun, comparison_table
from deepdrim.stats import wilcoxon_p
from experiments.reports import comparison
from experiments.tasks import compare

TFS = [f"TF{i}" for i in range(8)]
DEEPDRIM_AUROC = [0.91, 0.85, 0.77, 0.95, 0.62, 0.88, 0.71, 0.80]
OTHER_AUROC = [0.60, 0.66, 0.79, 0.70, 0.55, 0.64, 0.52, 0.83]


def _run(method, auroc, auprc, tfs=TFS, context="", epr=1.5):
    per_tf = pd.DataFrame({"tf": tfs, "n_pairs": 10, "n_positive": 5, "auroc": auroc, "auprc": auprc})
    return MethodRun(f"id-{method}-{context}", method, DISPLAY[method], context,
                     {"epr": epr, "auroc": 0.7, "auprc": 0.7, "wall_seconds": 1.0}, per_tf)


def test_table_pairs_per_tf_and_matches_scipy():
    rng = np.random.default_rng(0)
    auprc_ref, auprc_other = rng.uniform(0.4, 1, 8), rng.uniform(0.4, 1, 8)
    ref = _run("deepdrim", DEEPDRIM_AUROC, auprc_ref)
    # the other method lists its TFs in another order and lacks TF7: pairing is by TF name
    order = [3, 0, 6, 1, 5, 2, 4]
    other = _run("pcc", [OTHER_AUROC[i] for i in order], [auprc_other[i] for i in order], [TFS[i] for i in order])
    same = _run("cnnc", DEEPDRIM_AUROC, auprc_ref)
    table = comparison_table([ref, other, same]).set_index("method")
    assert list(table.columns[:8]) == ["label", "context", "median_auroc", "median_auprc", "epr", "p_auroc",
                                       "p_auprc", "n_tfs"]
    common = sorted(order)
    assert table.loc["pcc", "n_tfs"] == 7 and table.loc["deepdrim", "n_tfs"] == 8
    assert table.loc["pcc", "p_auroc"] == pytest.approx(
        wilcoxon(np.take(DEEPDRIM_AUROC, common), np.take(OTHER_AUROC, common)).pvalue, rel=1e-12)
    assert table.loc["pcc", "p_auprc"] == pytest.approx(
        wilcoxon(auprc_ref[common], auprc_other[common]).pvalue, rel=1e-12)
    assert table.loc["cnnc", "p_auroc"] == 1.0 and np.isnan(table.loc["deepdrim", "p_auroc"])
    assert table.loc["pcc", "median_auroc"] == pytest.approx(np.median([OTHER_AUROC[i] for i in order]))
    assert table.loc["pcc", "epr"] == 1.5


def test_contexts_compare_within_themselves(tmp_path):
    runs = [_run("deepdrim", DEEPDRIM_AUROC, DEEPDRIM_AUROC, context="seed=0"),
            _run("pcc", OTHER_AUROC, OTHER_AUROC, context="seed=0"),
            _run("pcc", DEEPDRIM_AUROC, DEEPDRIM_AUROC, context="seed=1")]
    table = comparison_table(runs)
    assert table.p_auroc.iloc[1] == pytest.approx(wilcoxon(DEEPDRIM_AUROC, OTHER_AUROC).pvalue)
    assert np.isnan(table.p_auroc.iloc[2])  # no DeepDRIM run with seed=1
    paths = comparison.write_comparison(runs, tmp_path)
    assert [p.name for p in paths] == ["comparison.csv", "comparison_per_tf.csv", "comparison.png"]
    assert len(pd.read_csv(paths[1])) == 24 and paths[2].stat().st_size > 1000
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


@pytest.fixture(scope="module")
def multirun(tmp_path_factory, tiny):
    """`python run.py -m method=deepdrim,pcc` (tiny) into a temporary store."""
    tmp = tmp_path_factory.mktemp("multirun")
    db = tmp / "mlflow.db"
    cmd = [sys.executable, str(Path(compare.__file__).resolve().parents[2] / "run.py"), "-m", "method=deepdrim,pcc",
           "neighbors=2", *tiny, f"tracking.uri=sqlite:///{db}", f"hydra.sweep.dir={tmp / 'sweep'}"]
    done = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp, db, done.stdout


@pytest.mark.slow
def test_multirun_parent_gets_the_comparison(multirun):
    tmp, db, stdout = multirun
    client = MlflowClient(f"sqlite:///{db}")
    runs = client.search_runs([client.get_experiment_by_name("deepdrim").experiment_id])
    parent = next(r for r in runs if r.data.tags.get("kind") == "multirun")
    children = {r.data.tags["method"]: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert set(children) == {"deepdrim", "pcc"} and parent.info.status == "FINISHED"
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"comparison.csv", "comparison.png", "comparison_per_tf.csv"} <= artifacts
    table = pd.read_csv(client.download_artifacts(parent.info.run_id, "comparison.csv", str(tmp)))
    assert list(table.method) == ["deepdrim", "pcc", "prior", "target_mean"]  # the controls: a row each
    assert list(table.role) == ["method", "method", "control", "control"] and table.label[2] == "gene prior (control)"
    per_tf = {m: pd.read_csv(client.download_artifacts(r.info.run_id, "per_tf_metrics.csv", str(tmp / m)))
              for m, r in children.items()}
    paired = per_tf["deepdrim"].merge(per_tf["pcc"], on="tf", suffixes=("_d", "_p"))
    assert table.n_tfs[1] == len(paired)
    # NaN when the tiny DeepDRIM did not learn (its per-TF table is then empty: no TF to pair)
    assert table.p_auroc[1] == pytest.approx(wilcoxon_p(paired.auroc_d, paired.auroc_p), nan_ok=True)
    assert table.epr[0] == pytest.approx(children["deepdrim"].data.metrics.get("epr", np.nan), nan_ok=True)
    assert table.median_auroc[1] == pytest.approx(children["pcc"].data.metrics["median_tf_auroc"])
    assert "CNNC = DeepDRIM with neighbors=0" in stdout


@pytest.mark.slow
def test_task_compare_logs_a_compare_run(multirun, tmp_path, config):
    tmp, db, _ = multirun
    cfg = config("task=compare", f"tracking.uri=sqlite:///{db}")
    metrics = compare.run(cfg, tmp_path / "out")
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"comparison.csv", "comparison_per_tf.csv",
                                                               "comparison.png", "config.yaml"}
    assert "PCC/p_auroc" in metrics and "DeepDRIM/median_auroc" in metrics
    client = MlflowClient(f"sqlite:///{db}")
    run = client.search_runs([client.get_experiment_by_name("deepdrim").experiment_id],
                             filter_string="tags.task = 'compare'")[0]
    assert run.info.status == "FINISHED" and "comparison.png" in {a.path for a in client.list_artifacts(run.info.run_id)}


@pytest.mark.slow
def test_task_compare_without_a_multirun_is_one_line(multirun, tmp_path, config):
    _, db, _ = multirun
    no_store = config("task=compare", f"tracking.uri=sqlite:///{tmp_path / 'm.db'}")
    other = config("task=compare", f"tracking.uri=sqlite:///{db}", "tracking.experiment=x")
    with pytest.raises(ValueError, match="no MLflow store at") as err:
        compare.run(no_store, tmp_path / "out")
    assert "\n" not in str(err.value) and not (tmp_path / "m.db").exists()
    with pytest.raises(ValueError, match="no multirun with more than one method") as err:
        compare.run(other, tmp_path / "out")
    assert "\n" not in str(err.value) and not (tmp_path / "out").exists()
