"""task=predict: every candidate edge ranked into rankedEdges.csv, the model saved and reusable."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from experiments.config import data as job_data

from experiments.tasks import predict as predict_job


@pytest.fixture(scope="module")
def compose_predict(config, tiny):
    """``compose_predict(db, *overrides)``: the tiny network, ``task=predict``, logging into ``db``."""
    net = [o for o in tiny if not o.startswith("data.")]  # the data is the test's BEELINE folder
    return lambda db, *overrides: config("task=predict", *net, "neighbors=2", f"tracking.uri=sqlite:///{db}",
                                         *overrides)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, compose_predict, tiny_sim):
    """A BEELINE folder of the tiny simulation and one trained predict run on it."""
    root = tmp_path_factory.mktemp("predict")
    folder = job_data.export_simulation(root / "beeline", tiny_sim, seed=0)
    cfg = compose_predict(root / "m.db", "data=beeline", f"data.path={folder}")
    metrics = predict_job.run(cfg, root / "out", "task=predict data=beeline")
    return root, folder, cfg, metrics


def _ranked(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype={"Gene1": str, "Gene2": str})


def test_ranked_edges_cover_every_candidate_in_beeline_layout(trained):
    root, folder, _, metrics = trained
    text = (root / "out" / "rankedEdges.csv").read_text()
    assert text.startswith("Gene1\tGene2\tEdgeWeight\n") and "\r" not in text
    ranked = _ranked(root / "out" / "rankedEdges.csv")
    genes = pd.read_csv(folder / "ExpressionData.csv", index_col=0).index.astype(str)
    tfs = pd.read_csv(folder / "refNetwork.csv")["Gene1"].unique()
    # each TF of the truth against every other gene, exactly once, no self pair
    expected = {(t, g) for t in tfs for g in genes if g != t}
    assert len(ranked) == len(expected) == metrics["n_candidates"]
    assert set(zip(ranked.Gene1, ranked.Gene2)) == expected
    assert np.all(np.diff(ranked.EdgeWeight.to_numpy()) <= 0)  # weight descending
    assert ranked.EdgeWeight.between(0, 1).all()
    assert {"labelled/auroc", "best_epoch", "wall_seconds"} <= set(metrics)


def _predict_run(root: Path):
    client = MlflowClient(f"sqlite:///{root / 'm.db'}")
    runs = client.search_runs([client.get_experiment_by_name("deepdrim").experiment_id],
                              filter_string="tags.task = 'predict'", order_by=["attributes.start_time ASC"])
    return client, runs[0]


def test_model_saved_and_logged_to_mlflow_as_a_pyfunc_model(trained):
    import mlflow

    root, *_ = trained
    assert sorted(p.name for p in (root / "out" / "model").iterdir()) == ["deepdrim.json", "model.keras"]
    client, run = _predict_run(root)
    assert run.info.status == "FINISHED"
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"rankedEdges.csv", "config.yaml"} <= names
    assert [i.dataset.name for i in client.get_run(run.info.run_id).inputs.dataset_inputs]  # the expression matrix
    # the logged model scores TF/target names exactly as the ranking did
    mlflow.set_tracking_uri(f"sqlite:///{root / 'm.db'}")
    model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    ranked = _ranked(root / "out" / "rankedEdges.csv").head(20)
    scored = model.predict(pd.DataFrame({"tf": ranked.Gene1, "target": ranked.Gene2}))
    np.testing.assert_allclose(scored["probability"].to_numpy(), ranked.EdgeWeight.to_numpy(), rtol=0, atol=1e-6)


def test_model_path_takes_a_runs_uri(trained, compose_predict):
    root, folder, _, _ = trained
    _, run = _predict_run(root)
    reload = compose_predict(root / "m.db", "data=beeline", f"data.path={folder}",
                             f"model_path=runs:/{run.info.run_id}/model")
    predict_job.run(reload, root / "out_uri", "model_path=runs")
    first, second = _ranked(root / "out" / "rankedEdges.csv"), _ranked(root / "out_uri" / "rankedEdges.csv")
    merged = first.merge(second, on=["Gene1", "Gene2"], suffixes=("", "_loaded"))
    assert len(merged) == len(first)
    np.testing.assert_allclose(merged.EdgeWeight_loaded, merged.EdgeWeight, rtol=0, atol=1e-6)


def test_model_path_scores_like_the_in_memory_model(trained, compose_predict):
    root, folder, cfg, _ = trained
    # no training: the scores come from the saved model
    reload = compose_predict(root / "m.db", "data=beeline", f"data.path={folder}", f"model_path={root / 'out' / 'model'}",
                             "neighbors=5")  # a config default, not the command line's: the model's 2 is logged
    metrics = predict_job.run(reload, root / "out2", "model_path")
    assert "best_epoch" not in metrics
    client = MlflowClient(f"sqlite:///{root / 'm.db'}")
    run = client.search_runs([client.get_experiment_by_name("deepdrim").experiment_id],
                             filter_string="tags.task = 'predict'", order_by=["attributes.start_time DESC"])[0]
    assert run.data.params["neighbors"] == "2" and "model.n_neighbors" not in run.data.params  # what it scored with
    first, second = _ranked(root / "out" / "rankedEdges.csv"), _ranked(root / "out2" / "rankedEdges.csv")
    merged = first.merge(second, on=["Gene1", "Gene2"], suffixes=("", "_loaded"))
    assert len(merged) == len(first) == len(second)
    np.testing.assert_allclose(merged.EdgeWeight_loaded, merged.EdgeWeight, rtol=0, atol=1e-6)


def test_baseline_predict_scores_candidates_with_the_baseline(trained, compose_predict):
    from deepdrim.baselines import pcc
    root, folder, _, _ = trained
    cfg = compose_predict(root / "m.db", "data=beeline", f"data.path={folder}", "method=pcc")
    predict_job.run(cfg, root / "pcc", "method=pcc")
    ranked = _ranked(root / "pcc" / "rankedEdges.csv")
    data = job_data.load({"kind": "beeline", "path": str(folder)}, seed=0)
    expected = pcc(data.expression, list(zip(ranked.Gene1, ranked.Gene2)))
    np.testing.assert_allclose(ranked.EdgeWeight, expected, rtol=1e-12)
    assert not (root / "pcc" / "model").exists()


@pytest.mark.slow
@pytest.mark.parametrize("case", ["not_a_model", "other_genes", "files_disagree", "other_neighbors"])
def test_bad_model_path_is_one_line_exit_2_and_writes_nothing(trained, tmp_path, case, run_py, tiny_sim):
    import json
    import shutil

    root, folder, _, _ = trained
    extra = []
    if case in ("files_disagree", "other_neighbors"):  # the trained model (neighbors=2)
        model = shutil.copytree(root / "out" / "model", tmp_path / "model")
        data = folder
        if case == "files_disagree":  # its description edited, its Keras file not
            meta = json.loads((model / "deepdrim.json").read_text())
            meta["params"]["n_neighbors"] = 5
            (model / "deepdrim.json").write_text(json.dumps(meta))
            message = f"error: {model}: the two files disagree: deepdrim.json says n_neighbors=5"
        else:
            extra = ["neighbors=5"]
            message = "error: neighbors=5: the saved model"
    elif case == "not_a_model":
        model = tmp_path / "empty"
        model.mkdir()
        message = f"error: {model} is not a saved DeepDRIM model"
        data = folder
    else:  # a dataset with other genes than the model was trained on
        model = root / "out" / "model"
        data = job_data.export_simulation(tmp_path / "other", {**tiny_sim, "n_genes": 25}, seed=1)
        message = f"error: the model at {model} was trained on other genes"
    db = tmp_path / "mlflow.db"
    done = run_py("task=predict", "data=beeline", f"data.path={data}", f"model_path={model}", *extra,
                  f"tracking.uri=sqlite:///{db}", f"hydra.run.dir={tmp_path / 'out'}", timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1].startswith(message)
    assert "Traceback" not in done.stderr
    assert not db.exists() and not (tmp_path / "out" / "rankedEdges.csv").exists()
