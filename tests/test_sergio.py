"""SERGIO (sim/sergio.py, data=sergio): seeding and numpy's global generator, the on-disk cache,
the data object, sampling the bundled networks, bad parameters, and the job wiring. Tiny sizes."""
import logging
import time

import networkx as nx
import numpy as np
import pytest

from sim import sergio
from sim.sergio import simulate_sergio
from sim.sergio_networks import bundled_edges, sample_bundled

#: tiny: 20 genes, 40 cells in 2 types, short trajectories (a call takes well under a second)
TINY = dict(n_genes=20, n_cells=40, n_cell_types=2, n_tfs=4, n_master=1, safety_iter=20, scale_iter=3)


def one_line(err) -> str:
    assert "\n" not in str(err.value)
    return str(err.value)


# ------------------------------------------------------------------------------------------ seeding


def test_same_seed_same_counts_other_seed_differs_and_global_rng_is_restored():
    np.random.seed(1234)
    state = np.random.get_state()
    a = simulate_sergio(**TINY, random_state=0)
    after = np.random.get_state()
    assert after[0] == state[0] and np.array_equal(after[1], state[1]) and after[2:] == state[2:]
    b = simulate_sergio(**TINY, random_state=0)
    c = simulate_sergio(**TINY, random_state=1)
    np.testing.assert_array_equal(a.counts, b.counts)
    assert a.gene_names == b.gene_names and np.array_equal(a.edges, b.edges)
    assert not np.array_equal(a.counts, c.counts)
    # the caller's stream continues as if SERGIO had never run
    expected = np.random.RandomState()
    expected.set_state(state)
    assert np.random.random() == expected.random_sample()


def test_a_generator_seed_and_an_int_seed_are_both_reproducible():
    a = simulate_sergio(**TINY, random_state=np.random.default_rng(5))
    b = simulate_sergio(**TINY, random_state=np.random.default_rng(5))
    np.testing.assert_array_equal(a.counts, b.counts)


@pytest.mark.parametrize("network", ["own", "ecoli"])
def test_vectorized_engine_equals_sergios_own_loop(network):
    """The default engine runs SERGIO's equations and draws as arrays: bit-for-bit SERGIO's output."""
    kw = dict(TINY, n_cells=41, n_cell_types=3, grn=network, random_state=2)  # uneven types: 14, 14, 13
    fast = simulate_sergio(**kw, engine="vectorized")
    loop = simulate_sergio(**kw, engine="sergio")
    np.testing.assert_array_equal(fast.counts, loop.counts)
    np.testing.assert_array_equal(fast.cell_type, loop.cell_type)
    clean = dict(kw, outlier_prob=0.0, library_mean=None, dropout_percentile=None, umi=False)
    fast, loop = simulate_sergio(**clean, engine="vectorized"), simulate_sergio(**clean, engine="sergio")
    assert (fast.counts > 0).mean() > 0.9  # noise-free concentrations: not counts
    np.testing.assert_array_equal(fast.counts, loop.counts)


# ------------------------------------------------------------------------------------------ cache


def test_cache_miss_then_hit_reads_the_file(tmp_path, caplog, monkeypatch):
    with caplog.at_level(logging.INFO, logger="sim.sergio"):
        first = simulate_sergio(**TINY, random_state=0, cache_dir=tmp_path)
    assert "SERGIO cache miss" in caplog.text
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].name.startswith("sergio-") and files[0].suffix == ".npz"

    def no_simulation(*args, **kwargs):
        raise AssertionError("a cache hit must not simulate")

    monkeypatch.setattr(sergio, "run_sergio", no_simulation)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="sim.sergio"):
        second = simulate_sergio(**TINY, random_state=0, cache_dir=tmp_path)
    assert "SERGIO cache hit" in caplog.text
    np.testing.assert_array_equal(first.counts, second.counts)
    assert first.gene_names == second.gene_names and first.tfs == second.tfs
    np.testing.assert_array_equal(first.edges, second.edges)
    np.testing.assert_array_equal(first.signs, second.signs)
    np.testing.assert_array_equal(first.cell_type, second.cell_type)
    with pytest.raises(AssertionError, match="must not simulate"):  # another seed or parameter: another key
        simulate_sergio(**TINY, random_state=1, cache_dir=tmp_path)
    with pytest.raises(AssertionError, match="must not simulate"):
        simulate_sergio(**dict(TINY, dropout_percentile=50.0), random_state=0, cache_dir=tmp_path)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong_shape"])
def test_a_corrupt_or_partial_cache_file_is_recomputed_and_replaced(tmp_path, caplog, damage):
    good = simulate_sergio(**TINY, random_state=0, cache_dir=tmp_path)
    (path,) = tmp_path.iterdir()
    if damage == "garbage":
        path.write_bytes(b"not a numpy file at all")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:  # a readable file whose contents do not fit the parameters
        np.savez(path, counts=np.zeros((3, 3)), gene_names=np.array(["a", "b", "c"]), tfs=np.array(["a"]),
                 edges=np.zeros((1, 2), dtype=int), signs=np.ones(1, dtype=int), cell_type=np.zeros(3, dtype=int))
    with caplog.at_level(logging.WARNING, logger="sim.sergio"):
        again = simulate_sergio(**TINY, random_state=0, cache_dir=tmp_path)
    assert "recomputing" in caplog.text
    np.testing.assert_array_equal(again.counts, good.counts)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # replaced in place, no temporary left
    with np.load(path) as saved:
        np.testing.assert_array_equal(saved["counts"], good.counts)


# ------------------------------------------------------------------------------------------ the data


@pytest.mark.parametrize("network", sergio.NETWORKS)
def test_dataset_shapes_names_and_edges_are_consistent(network):
    data = simulate_sergio(**dict(TINY, n_tfs=5, grn=network), random_state=0)
    n_cells, n_genes = TINY["n_cells"], TINY["n_genes"]
    assert data.counts.shape == (n_cells, n_genes) and data.counts.dtype == np.float64
    assert (data.counts >= 0).all() and np.array_equal(data.counts, np.round(data.counts))  # UMI counts
    assert len(set(data.gene_names)) == n_genes
    assert list(data.expression.columns) == data.gene_names and data.expression.shape == (n_cells, n_genes)
    edges = data.edges
    assert edges.ndim == 2 and edges.shape[1] == 2 and len(edges) > 0
    assert edges.min() >= 0 and edges.max() < n_genes and not (edges[:, 0] == edges[:, 1]).any()
    assert len({tuple(e) for e in edges.tolist()}) == len(edges)
    assert set(np.unique(data.signs)) <= {-1, 1} and len(data.signs) == len(edges)
    # TFs are exactly the genes with a target, and the truth is acyclic (SERGIO needs a DAG)
    assert data.tfs == [data.gene_names[i] for i in sorted(set(edges[:, 0].tolist()))]
    assert nx.is_directed_acyclic_graph(nx.DiGraph(edges.tolist()))
    assert data.edge_names == [(data.gene_names[a], data.gene_names[b]) for a, b in edges]
    assert np.bincount(data.cell_type).tolist() == [n_cells // 2] * 2
    assert data.params["grn"] == network


def test_own_network_is_the_network_data_sim_draws_for_the_seed():
    from sim.grn import simulate_grn

    data = simulate_sergio(**TINY, random_state=7)
    grn = simulate_grn(n_tfs=4, n_genes=20, n_cells=50, n_master=1, repression_fraction=0.25, random_state=7)
    np.testing.assert_array_equal(data.edges, grn.edges)
    np.testing.assert_array_equal(data.signs, grn.signs)
    assert data.gene_names == grn.gene_names


@pytest.mark.parametrize("network", ["ecoli", "human"])
def test_bundled_sampling_is_acyclic_fast_seeded_and_independent_of_the_cwd(network, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # SERGIO's own readers would look for ./SERGIO/GRN/ref here
    bundled_edges(network)  # the one-off read of the bundled file
    start = time.perf_counter()
    samples = [sample_bundled(network, 200, 20, 0.25, np.random.default_rng(seed)) for seed in range(3)]
    assert (time.perf_counter() - start) / 3 < 5.0  # SERGIO's whole-network cycle removal: 41 s on E. coli
    full = set(map(tuple, bundled_edges(network).to_numpy().tolist()))
    for names, edges, signs, dropped in samples:
        assert len(names) == len(set(names)) == 200
        assert nx.is_directed_acyclic_graph(nx.DiGraph(edges.tolist()))
        assert 3 <= len(np.unique(edges[:, 0])) <= 20 and dropped >= 0
        assert all((names[a], names[b]) in full for a, b in edges)  # only edges of the bundled network
    again = sample_bundled(network, 200, 20, 0.25, np.random.default_rng(0))
    assert again[0] == samples[0][0] and np.array_equal(again[1], samples[0][1])
    assert samples[0][0] != samples[1][0]


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("kwargs, expected", [
    (dict(grn="yeast"), "grn must be one of own, ecoli, human"),
    (dict(n_cell_types=0), "n_cell_types must be an integer >= 1"),
    (dict(n_tfs=20), "n_tfs (20) must be < n_genes (20)"),
    (dict(n_cells=1), "n_cells must be an integer >= 2"),
    (dict(n_cells=3, n_cell_types=4), "n_cells (3) must be at least n_cell_types (4)"),
    (dict(k_range=[5, 1]), "k_range must be [low, high]"),
    (dict(mr_low=[0, 1]), "mr_low must be [low, high]"),
    (dict(outlier_prob=2), "outlier_prob must be a number in [0, 1]"),
    (dict(dropout_percentile=150), "dropout_percentile must be a number in [0, 100]"),
    (dict(noise_s=-1), "noise_s must be a number >= 0"),
    (dict(dt=0), "dt must be a number > 0"),
    (dict(umi="yes"), "umi must be true or false"),
    (dict(engine="gpu"), "engine must be one of vectorized, sergio"),
    (dict(n_master=4), "n_master (4) must be < n_tfs (4)"),
    (dict(regulators_per_gene=[2, 9]), "regulators_per_gene must be [low, high]"),
    (dict(grn="ecoli", n_genes=10**6, n_cells=2, n_cell_types=1, scale_iter=1), "has 4099 genes"),
    (dict(n_genes=1000, n_cells=100000), "exceed what SERGIO keeps in memory"),
    (dict(random_state=-1), "random_state must be None, an int in [0, 2**32)"),
])
def test_bad_parameters_are_one_line_value_errors(kwargs, expected, tmp_path):
    params = {**TINY, "random_state": 0, **kwargs}
    with pytest.raises(ValueError) as err:
        simulate_sergio(**params, cache_dir=tmp_path)
    assert expected in one_line(err)
    assert not list(tmp_path.iterdir())  # nothing written


# ------------------------------------------------------------------------------------------ the job


@pytest.mark.filterwarnings("ignore:.*got no balanced negative")
def test_data_load_builds_labelled_pairs_like_the_simulation(tmp_path):
    from experiments.config import data as job_data

    cfg = {"kind": "sergio", **TINY, "negatives": "balanced", "cache": str(tmp_path)}
    data = job_data.load(cfg, seed=0)
    direct = simulate_sergio(**TINY, random_state=0)
    np.testing.assert_array_equal(data.expression.to_numpy(), direct.counts)
    assert data.tfs == direct.tfs and data.edge_list == direct.edge_names
    assert set(np.unique(data.pairs.labels)) == {0, 1}
    names = np.asarray(data.gene_names)
    positives = {tuple(p) for p in names[data.pairs.pairs[data.pairs.labels == 1]].tolist()}
    assert positives == set(direct.edge_names)
    assert set(names[data.pairs.pairs[:, 0]]) <= set(direct.tfs)
    assert data.source.startswith("sim.sergio grn=own") and len(list(tmp_path.iterdir())) == 1
    with pytest.raises(ValueError) as err:
        job_data.load({**cfg, "n_genez": 3}, seed=0)
    assert "data=sergio has no key 'n_genez'" in one_line(err)


def test_the_config_schema_checks_sergio_keys(config):
    from experiments.config import checks

    assert checks.SIMULATOR_RULES["sergio"] is sergio.PARAMETERS  # the simulator's own rules, not a copy
    cfg = config("data=sergio")
    assert cfg.data.kind == "sergio" and cfg.data.grn == "own"
    checks.check_config(config("data=sergio", "tracking.uri=sqlite:////tmp/unused-sergio-check/m.db"))
    for override, expected in [("data.grn=yeast", "data.grn must be one of own, ecoli, human"),
                               ("data.n_cell_types=0", "data.n_cell_types must be an integer >= 1"),
                               ("data.dropout_percentile=101", "data.dropout_percentile must be a number in [0, 100]"),
                               ("neighbors=300", "neighbors=300 needs at least 302 genes")]:
        with pytest.raises(ValueError) as err:
            checks.check_config(config("data=sergio", override, "tracking.uri=sqlite:////tmp/unused-sergio-check/m.db"))
        assert expected in one_line(err), override


@pytest.mark.slow
def test_run_py_data_sergio_logs_a_finished_run(tmp_path, run_py):
    from mlflow.tracking import MlflowClient

    db = tmp_path / "mlflow.db"
    done = run_py("data=sergio", *(f"data.{k}={v}" for k, v in TINY.items()), "data.n_genes=30", "data.n_cells=90",
                  "cv.n_folds=2", "model.conv_filters=[4,4,4]", "model.embedding=8", "model.dense_units=[8,4]",
                  "training.epochs=1", "training.min_epochs=0", f"tracking.uri=sqlite:///{db}",
                  f"paths.store={tmp_path / 'store'}", f"paths.outputs={tmp_path / 'outputs'}")
    assert done.returncode == 0, done.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{db}")
    (run,) = client.search_runs([client.get_experiment_by_name("deepdrim").experiment_id])
    assert run.info.status == "FINISHED" and run.data.tags["data_source"].startswith("sim.sergio grn=own")
    assert 0 <= run.data.metrics["auroc"] <= 1 and "prior/auroc" in run.data.metrics
    assert len(list((tmp_path / "store" / "cache").glob("sergio-*.npz"))) == 1
