"""benchmarks/compare_stores.py: the same runs in two stores are identical; one changed metric is found."""
from mlflow.tracking import MlflowClient

from tests.conftest import benchmark

compare_stores = benchmark("compare_stores")


def _store(folder, auroc: float) -> str:
    folder.mkdir()
    client = MlflowClient(f"sqlite:///{folder}/mlflow.db")
    experiment = client.create_experiment("study")
    run = client.create_run(experiment, run_name="neighbors=10")
    for key, value in {"auroc": auroc, "wall_seconds": float(len(str(folder)))}.items():
        client.log_metric(run.info.run_id, key, value)
    return str(folder)


def test_changed_metrics_are_found_and_machine_metrics_ignored(tmp_path, capsys):
    before, same, other = (_store(tmp_path / name, value) for name, value in
                           (("before", 0.75), ("same_numbers", 0.75), ("other", 0.70)))
    assert compare_stores.main([before, same]) == 0  # wall_seconds differs, auroc does not
    assert "1 runs identical, 0 differ" in capsys.readouterr().out
    assert compare_stores.main([before, other]) == 1
    assert "auroc 0.75 -> 0.7" in capsys.readouterr().out
