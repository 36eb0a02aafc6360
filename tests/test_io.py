"""deepdrim.io: each input layout round-trips, rankedEdges.csv layout, one-line errors."""
import logging
import os

import numpy as np
import pandas as pd
import pytest

from deepdrim.io import Dataset, read_beeline, read_h5ad, read_reference
from deepdrim.ranked_edges import write_ranked_edges

GENES = ["G1", "G2", "G3", "G4"]
CELLS = ["c1", "c2", "c3", "c4", "c5"]


@pytest.fixture
def counts():
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.poisson(3.0, size=(5, 4)).astype(float), index=CELLS, columns=GENES)


def write_expression(path, counts):
    """genes x cells CSV, first column gene names."""
    counts.T.to_csv(path)
    return path


def write_text(path, text):
    path.write_text(text)
    return path


NETWORK = "Gene1,Gene2,Type\nG1,G2,+\nG1,G3,-\nG4,G2,+\n"


@pytest.fixture
def beeline(tmp_path, counts):
    write_expression(tmp_path / "ExpressionData.csv", counts)
    write_text(tmp_path / "refNetwork.csv", NETWORK)
    return tmp_path


def one_line(err):
    assert "\n" not in str(err.value)
    return str(err.value)


# ---------------------------------------------------------------------------------------------- BEELINE


def test_read_beeline_round_trip(beeline, counts):
    write_text(beeline / "PseudoTime.csv", "cell,PseudoTime\n" + "".join(f"{c},{i / 4}\n" for i, c in enumerate(CELLS)))
    data = read_beeline(beeline)
    assert isinstance(data, Dataset)
    pd.testing.assert_frame_equal(data.expression, counts, check_index_type=False, check_column_type=False)
    assert list(data.expression.columns) == GENES and list(data.expression.index) == CELLS
    assert data.edges.to_dict("list") == {"tf": ["G1", "G1", "G4"], "target": ["G2", "G3", "G2"], "sign": [1, -1, 1]}
    assert data.tfs == ["G1", "G4"]
    assert data.pseudotime.shape == (5, 1)
    assert data.pairs is None and str(beeline) in data.source


def test_read_beeline_ground_truth_name_and_no_type(tmp_path, counts):
    write_expression(tmp_path / "ExpressionData.csv", counts)
    write_text(tmp_path / "GroundTruthNetwork.csv", "Gene1,Gene2\nG2,G3\n")
    data = read_beeline(tmp_path)
    assert data.edges.to_dict("list") == {"tf": ["G2"], "target": ["G3"], "sign": [0]}
    assert data.pseudotime is None


def test_self_loops_duplicates_and_absent_genes_dropped_and_logged(beeline, caplog):
    write_text(beeline / "refNetwork.csv", NETWORK + "G2,G2,+\nG1,G2,+\nG1,G9,+\nG8,G9,-\n")
    with caplog.at_level(logging.INFO, logger="deepdrim.io"):
        data = read_beeline(beeline)
    assert len(data.edges) == 3
    text = caplog.text
    assert "1 self-loop" in text and "1 duplicate edge" in text
    assert "dropped 2 edge(s) naming 2 gene(s) absent" in text


def test_missing_folder_and_files_are_named(tmp_path, counts):
    with pytest.raises(FileNotFoundError) as err:
        read_beeline(tmp_path / "nope")
    assert "nope" in one_line(err)
    with pytest.raises(FileNotFoundError) as err:
        read_beeline(tmp_path)
    assert "ExpressionData.csv" in one_line(err)
    write_expression(tmp_path / "ExpressionData.csv", counts)
    with pytest.raises(FileNotFoundError) as err:
        read_beeline(tmp_path)
    assert "refNetwork.csv" in one_line(err) and isinstance(err.value, OSError)


@pytest.mark.parametrize(
    "text, message",
    [
        (",c1,c2\nG1,1,2\nG1,3,4\n", "duplicate gene name"),
        (",c1,c1\nG1,1,2\nG2,3,4\n", "duplicate cell name"),
        (",c1,c2\nG1,1,x\nG2,3,4\n", r"1 non-numeric value\(s\), e.g. 'x' \(gene 'G1', cell 'c2'\)"),
        (",c1,c2\nG1,1,\nG2,3,4\n", "non-numeric"),
        (",c1,c2\nG1,1,-2\nG2,3,4\n", "negative"),
        ("", "empty or malformed expression"),
        (",c1,c2\nG1,1,2,5\nG2,3,4\n", "malformed expression CSV"),
    ],
)
def test_bad_expression(tmp_path, text, message):
    write_text(tmp_path / "ExpressionData.csv", text)
    write_text(tmp_path / "refNetwork.csv", "Gene1,Gene2,Type\nG1,G2,+\n")
    with pytest.raises(ValueError, match=message) as err:
        read_beeline(tmp_path)
    assert "ExpressionData.csv" in one_line(err)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty network file"),
        ("Gene1,Gene2,Type\n", "empty network file"),
        ("From,To\nG1,G2\n", "malformed network file, needs columns Gene1,Gene2"),
        ("Gene1,Gene2,Type\nG1,G2,activates\n", "Type must be '\\+' or '-'"),
        ("Gene1,Gene2,Type\nG1,G2,+,extra\n", "malformed network file"),
        ("Gene1,Gene2,Type\nX1,X2,+\nG1,G1,+\n", "none of its 2 edge"),
    ],
)
def test_bad_network(beeline, text, message):
    write_text(beeline / "refNetwork.csv", text)
    with pytest.raises(ValueError, match=message) as err:
        read_beeline(beeline)
    assert "refNetwork.csv" in one_line(err)


# ---------------------------------------------------------------------------------------------- h5ad


@pytest.fixture
def h5ad(tmp_path, counts):
    anndata = pytest.importorskip("anndata")
    import scipy.sparse

    adata = anndata.AnnData(
        X=scipy.sparse.csr_matrix(counts.to_numpy()),
        obs=pd.DataFrame(index=CELLS),
        var=pd.DataFrame(index=GENES),
    )
    adata.layers["raw"] = counts.to_numpy() * 2
    path = tmp_path / "data.h5ad"
    adata.write_h5ad(path)
    write_text(tmp_path / "net.csv", NETWORK)
    return path


def test_read_h5ad_round_trip(h5ad, counts):
    data = read_h5ad(h5ad, network=h5ad.parent / "net.csv")
    np.testing.assert_array_equal(data.expression.to_numpy(), counts.to_numpy())
    assert list(data.expression.columns) == GENES and list(data.expression.index) == CELLS
    assert data.tfs == ["G1", "G4"] and len(data.edges) == 3
    layered = read_h5ad(h5ad, network=h5ad.parent / "net.csv", layer="raw")
    np.testing.assert_array_equal(layered.expression.to_numpy(), counts.to_numpy() * 2)
    assert "raw" in layered.source
    assert read_h5ad(h5ad).edges.empty


def test_read_h5ad_errors(h5ad, tmp_path):
    with pytest.raises(ValueError, match="no layer 'spliced'; layers: \\['raw'\\]") as err:
        read_h5ad(h5ad, layer="spliced")
    one_line(err)
    with pytest.raises(FileNotFoundError, match="missing.h5ad"):
        read_h5ad(tmp_path / "missing.h5ad")
    with pytest.raises(FileNotFoundError, match="nonet.csv"):
        read_h5ad(h5ad, network=tmp_path / "nonet.csv")
    write_text(tmp_path / "junk.h5ad", "not hdf5")
    with pytest.raises(ValueError, match="not a readable .h5ad"):
        read_h5ad(tmp_path / "junk.h5ad")


@pytest.mark.filterwarnings("ignore:Variable names are not unique")
def test_read_h5ad_negative_and_duplicate_names(tmp_path, counts):
    anndata = pytest.importorskip("anndata")
    negative = anndata.AnnData(X=-counts.to_numpy(), obs=pd.DataFrame(index=CELLS), var=pd.DataFrame(index=GENES))
    negative.write_h5ad(tmp_path / "neg.h5ad")
    with pytest.raises(ValueError, match="negative"):
        read_h5ad(tmp_path / "neg.h5ad")
    var = pd.DataFrame(index=["A", "B", "A", "C"])
    dup = anndata.AnnData(X=counts.to_numpy(), obs=pd.DataFrame(index=CELLS), var=var)
    dup.write_h5ad(tmp_path / "dup.h5ad")
    with pytest.raises(ValueError, match="duplicate gene name"):
        read_h5ad(tmp_path / "dup.h5ad")


# ---------------------------------------------------------------------------------------------- reference


@pytest.fixture
def reference(tmp_path, counts):
    expr = write_expression(tmp_path / "expr.csv", counts)
    pairs = write_text(tmp_path / "pairs.txt", "g1\tG2\t1\nG2 g1 2\nG1\tg4\t0\nG3\tG4\t1\n\n")
    divide = write_text(tmp_path / "divide.txt", "0\n2\n3\n")
    return expr, pairs, divide


def test_read_reference_round_trip(reference, counts):
    expr, pairs, divide = reference
    data = read_reference(expr, pairs, divide)
    assert list(data.expression.columns) == ["g1", "g2", "g3", "g4"]
    np.testing.assert_array_equal(data.expression.to_numpy(), counts.to_numpy())
    names = np.asarray(data.gene_names)
    assert names[data.pairs.pairs].tolist() == [["g1", "g2"], ["g1", "g4"], ["g3", "g4"]]
    assert data.pairs.labels.tolist() == [1, 0, 1] and data.pairs.kind.tolist() == ["direct", "random", "direct"]
    assert data.edges.to_dict("list") == {"tf": ["g1", "g3"], "target": ["g2", "g4"], "sign": [0, 0]}
    assert data.tfs == ["g1", "g3"]
    np.testing.assert_array_equal(read_reference(expr, pairs).pairs.pairs, data.pairs.pairs)


def test_read_reference_warns_when_lower_casing_merges(tmp_path, counts):
    merged = counts.rename(columns={"G3": "g1"})  # "G1" and "g1" become one name
    expr = write_expression(tmp_path / "expr.csv", merged)
    pairs = write_text(tmp_path / "pairs.txt", "G1 G2 1\nG4 G2 0\n")
    with pytest.warns(UserWarning, match="merges 1 gene"):
        data = read_reference(expr, pairs)
    assert list(data.expression.columns) == ["g1", "g2", "g4"]
    np.testing.assert_array_equal(data.expression["g1"], counts["G1"])


@pytest.mark.parametrize(
    "pair_text, divide_text, message",
    [
        ("G1 G2\n", None, "line 1: malformed pair"),
        ("G1 G2 yes\n", None, "line 1: malformed pair"),
        ("\n\n", None, "empty pair file"),
        ("X1 X2 1\n", None, "none of its 1 pair"),
        ("G1 G2 1\n", "0\nfirst\n", "line 2: divide position must be an integer"),
        ("G1 G2 1\n", "", "empty TF divide-position file"),
    ],
)
def test_read_reference_errors(tmp_path, counts, pair_text, divide_text, message):
    expr = write_expression(tmp_path / "expr.csv", counts)
    pairs = write_text(tmp_path / "pairs.txt", pair_text)
    divide = None if divide_text is None else write_text(tmp_path / "divide.txt", divide_text)
    with pytest.raises(ValueError, match=message) as err:
        read_reference(expr, pairs, divide)
    one_line(err)


def test_read_reference_missing_files_named(reference, tmp_path):
    expr, pairs, _ = reference
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        read_reference(expr, tmp_path / "nope.txt")
    with pytest.raises(FileNotFoundError, match="nodiv.txt"):
        read_reference(expr, pairs, tmp_path / "nodiv.txt")


# ---------------------------------------------------------------------------------------------- rankedEdges


def test_ranked_edges_exact_layout(tmp_path):
    weights = [0.5, 2.0, 0.5, 1.25]
    path = write_ranked_edges(tmp_path / "rankedEdges.csv", ["A", "B", "C", "D"], ["X", "Y", "Z", "W"], weights)
    assert path.read_text() == "Gene1\tGene2\tEdgeWeight\nB\tY\t2.0\nD\tW\t1.25\nA\tX\t0.5\nC\tZ\t0.5\n"
    assert os.listdir(tmp_path) == ["rankedEdges.csv"]  # no temporary file left behind
    back = pd.read_csv(path, sep="\t")
    assert list(back.columns) == ["Gene1", "Gene2", "EdgeWeight"]
    assert back["EdgeWeight"].is_monotonic_decreasing


def test_ranked_edges_replaces_atomically_and_writes_nothing_on_error(tmp_path):
    path = tmp_path / "rankedEdges.csv"
    write_ranked_edges(path, ["A"], ["B"], [1.0])
    before = path.read_text()
    for args, message in [
        ((["A", "B"], ["C"], [1.0, 2.0]), "same length"),
        ((["A"], ["B"], [float("nan")]), "NaN"),
        ((["A"], ["B"], ["high"]), "numeric"),
        ((["A\tB"], ["C"], [1.0]), "tab or newline"),
    ]:
        with pytest.raises(ValueError, match=message) as err:
            write_ranked_edges(path, *args)
        one_line(err)
    assert path.read_text() == before and os.listdir(tmp_path) == ["rankedEdges.csv"]
    with pytest.raises(FileNotFoundError, match="no_dir"):
        write_ranked_edges(tmp_path / "no_dir" / "rankedEdges.csv", ["A"], ["B"], [1.0])
    write_ranked_edges(path, ["C", "D"], ["E", "F"], np.array([1.0, 3.0]))
    assert path.read_text().splitlines()[1] == "D\tF\t3.0"


def test_reader_output_feeds_baselines(beeline):
    from deepdrim.baselines import pcc

    data = read_beeline(beeline)
    pairs = list(zip(data.edges["tf"], data.edges["target"]))
    assert pcc(data.expression, pairs).shape == (3,)
