"""experiments.config.data.load: every data kind from small files the tests write, and one-line errors."""
import logging

import numpy as np
import pandas as pd
import pytest

from experiments.config import data as job_data

GENES = ["TFa", "TFb", "g1", "g2", "g3", "g4", "g5"]
NETWORK = "Gene1,Gene2,Type\nTFa,g1,+\nTFa,g2,-\nTFb,g3,+\nTFb,TFa,+\nTFa,TFa,+\n"


@pytest.fixture
def counts():
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.poisson(4.0, size=(20, len(GENES))).astype(float),
                        index=[f"c{i}" for i in range(20)], columns=GENES)


def one_line(err) -> str:
    assert "\n" not in str(err.value)
    return str(err.value)


@pytest.mark.filterwarnings("ignore:.*got no balanced negative")
def test_beeline_round_trip_gives_the_simulation_and_its_pairs(tmp_path, tiny_sim, caplog):
    sim = job_data.load(tiny_sim, seed=3)
    folder = job_data.export_simulation(tmp_path / "bl", tiny_sim, seed=3)
    assert sorted(p.name for p in folder.iterdir()) == ["ExpressionData.csv", "PseudoTime.csv", "refNetwork.csv"]
    import warnings

    caplog.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the library's pair warnings arrive as log lines, not warnings
        data = job_data.load({"kind": "beeline", "path": str(folder), "negatives": "balanced"}, seed=3)
    said = [r.getMessage() for r in caplog.records if "balanced negative" in r.getMessage()]
    assert said and all(str(folder) in line and "\n" not in line for line in said)  # the tiny network has hubs
    np.testing.assert_array_equal(data.expression.to_numpy(), sim.expression.to_numpy())
    assert data.gene_names == sim.gene_names
    # same genes, edges and seed -> exactly the simulation's labelled pairs
    np.testing.assert_array_equal(data.pairs.pairs, sim.pairs.pairs)
    np.testing.assert_array_equal(data.pairs.labels, sim.pairs.labels)
    np.testing.assert_array_equal(data.pairs.kind, sim.pairs.kind)
    assert sorted(data.edge_list) == sorted(sim.edge_list) and data.source.startswith("beeline")


def test_relative_path_is_resolved_against_the_launch_directory(tmp_path, monkeypatch, counts):
    (tmp_path / "run" / "net").mkdir(parents=True)
    counts.T.to_csv(tmp_path / "run" / "net" / "ExpressionData.csv")
    (tmp_path / "run" / "net" / "refNetwork.csv").write_text(NETWORK)
    monkeypatch.chdir(tmp_path / "run")
    data = job_data.load({"kind": "beeline", "path": "net"}, seed=0)
    assert str(tmp_path / "run" / "net") in data.source


def test_beeline_pairs_follow_the_network_and_negatives_mode(tmp_path, counts):
    counts.T.to_csv(tmp_path / "ExpressionData.csv")
    (tmp_path / "refNetwork.csv").write_text(NETWORK)
    data = job_data.load({"kind": "beeline", "path": str(tmp_path), "negatives": "balanced"}, seed=0)
    names = np.asarray(GENES, dtype=object)
    positives = {(names[a], names[b]) for a, b in data.pairs.pairs[data.pairs.labels == 1]}
    assert positives == {("TFa", "g1"), ("TFa", "g2"), ("TFb", "g3"), ("TFb", "TFa")}  # self-loop dropped
    assert data.pairs.labels.sum() == 4 and len(data.pairs) == 8  # one negative per positive
    assert sorted(data.tfs) == ["TFa", "TFb"]
    every = job_data.load({"kind": "beeline", "path": str(tmp_path), "negatives": "all"}, seed=0)
    assert len(every.pairs) == 2 * (len(GENES) - 1)  # each TF against every other gene
    tf_b_negatives = {names[b] for (a, b), y in zip(every.pairs.pairs, every.pairs.labels) if names[a] == "TFb" and not y}
    assert tf_b_negatives == {"g1", "g2", "g4", "g5"}


def test_h5ad_with_layer(tmp_path, counts):
    anndata = pytest.importorskip("anndata")
    adata = anndata.AnnData(X=counts.to_numpy(), obs=pd.DataFrame(index=counts.index),
                            var=pd.DataFrame(index=GENES))
    adata.layers["raw"] = counts.to_numpy() * 3
    adata.write_h5ad(tmp_path / "d.h5ad")
    (tmp_path / "net.csv").write_text(NETWORK)
    cfg = {"kind": "h5ad", "path": str(tmp_path / "d.h5ad"), "network": str(tmp_path / "net.csv"),
           "layer": "raw", "negatives": "balanced"}
    data = job_data.load(cfg, seed=0)
    np.testing.assert_array_equal(data.expression.to_numpy(), counts.to_numpy() * 3)
    assert data.gene_names == GENES and int(data.pairs.labels.sum()) == 4
    plain = job_data.load({**cfg, "layer": None}, seed=0)
    np.testing.assert_array_equal(plain.expression.to_numpy(), counts.to_numpy())
    with pytest.raises(ValueError, match="no layer 'spliced'") as err:
        job_data.load({**cfg, "layer": "spliced"}, seed=0)
    one_line(err)
    with pytest.raises(ValueError, match="data=h5ad needs data.network="):
        job_data.load({**cfg, "network": None}, seed=0)


def test_reference_labels_are_used_as_given(tmp_path, counts):
    counts.T.to_csv(tmp_path / "expr.csv")
    (tmp_path / "pairs.txt").write_text("tfa g1 1\ntfa g4 0\ng1 TFA 2\nTFB g3 1\nTFB g5 0\ntfa g1 1\ng2 g3 1\ng5 g2 2\n")
    (tmp_path / "divide.txt").write_text("0\n2\n4\n")
    cfg = {"kind": "reference", "path": str(tmp_path / "expr.csv"), "pairs": str(tmp_path / "pairs.txt"),
           "divide": str(tmp_path / "divide.txt")}
    data = job_data.load(cfg, seed=0)
    names = np.asarray(data.gene_names, dtype=object)
    got = [(names[a], names[b], int(y)) for (a, b), y in zip(data.pairs.pairs, data.pairs.labels)]
    # label 2 is no binary pair, the repeated row kept once (first), names lower-cased as the reference does
    assert got == [("tfa", "g1", 1), ("tfa", "g4", 0), ("tfb", "g3", 1), ("tfb", "g5", 0), ("g2", "g3", 1)]
    # label 2 (B A 2) is the edge B -> A, for the direction task
    assert sorted(data.edge_list) == [("g2", "g3"), ("g2", "g5"), ("tfa", "g1"), ("tfb", "g3")]
    assert list(data.pairs.kind) == ["direct", "random", "direct", "random", "direct"]
    assert data.tfs == ["tfa", "tfb", "g2"]
    (tmp_path / "bad.txt").write_text("tfa g1 1\ntfa g1 0\n")  # the repeat is dropped: one class left
    with pytest.raises(ValueError, match="the pair file holds only label 1; need 0 and 1"):
        job_data.load({**cfg, "pairs": str(tmp_path / "bad.txt")}, seed=0)


def test_input_errors_are_one_line(tmp_path, counts, caplog):
    with pytest.raises(ValueError, match="data=beeline needs data.path=") as err:
        job_data.load({"kind": "beeline", "path": None}, seed=0)
    one_line(err)
    with pytest.raises(ValueError, match="BEELINE folder not found: .*nowhere") as err:
        job_data.load({"kind": "beeline", "path": str(tmp_path / "nowhere")}, seed=0)
    one_line(err)
    with pytest.raises(ValueError, match="unknown data kind 'csv'"):
        job_data.load({"kind": "csv"}, seed=0)
    counts.T.to_csv(tmp_path / "ExpressionData.csv")
    (tmp_path / "refNetwork.csv").write_text(
        "Gene1,Gene2\n" + "".join(f"TFa,{g}\n" for g in GENES if g != "TFa") + "TFb,g1\n")
    with pytest.raises(ValueError, match="TF 'TFa' regulates every other gene: no negative") as err:
        job_data.load({"kind": "beeline", "path": str(tmp_path)}, seed=0)
    one_line(err)
    # genes absent from the expression: counted in the log, the rest used
    (tmp_path / "refNetwork.csv").write_text("Gene1,Gene2\nTFa,g1\nTFa,ghost\nTFb,g2\nTFb,phantom\n")
    with caplog.at_level(logging.WARNING, logger="deepdrim.io"):
        data = job_data.load({"kind": "beeline", "path": str(tmp_path)}, seed=0)
    assert "dropped 2 edge(s) naming 2 gene(s) absent" in caplog.text
    assert int(data.pairs.labels.sum()) == 2
    (tmp_path / "refNetwork.csv").write_text("Gene1,Gene2\nghost,g1\n")
    with pytest.raises(ValueError, match="none of its 1 edge"):
        job_data.load({"kind": "beeline", "path": str(tmp_path)}, seed=0)


@pytest.mark.slow
def test_run_py_missing_folder_exits_2_with_one_line(tmp_path, run_py):
    db = tmp_path / "mlflow.db"
    done = run_py("data=beeline", "data.path=missing_folder", f"tracking.uri=sqlite:///{db}",
                  f"hydra.run.dir={tmp_path / 'out'}", timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1] == f"error: BEELINE folder not found: {tmp_path / 'missing_folder'}"
    assert "Traceback" not in done.stderr
    assert not db.exists() and not (tmp_path / "out" / "predictions.csv").exists()
