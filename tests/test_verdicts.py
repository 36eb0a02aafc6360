"""Study verdicts from run tables (within, max_drop, difference, metric), every preset's verdict
block, and the parent run that records the verdict."""
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from deepdrim import verdicts


def _table(rows):
    return pd.DataFrame(rows, columns=["x", "line", "seed", "auroc"])


def test_within_verdict_and_smallest_x():
    rows = []
    for seed, noise in enumerate((0.0, 0.004, -0.004)):
        for x, value in ((20, 0.60), (100, 0.75), (200, 0.79), (4000, 0.80)):
            rows.append((x, np.nan, seed, value + noise))
    v = verdicts.study_verdict(_table(rows), {"claim": "4A", "effect": "within", "at": 150, "tolerance": 0.02})
    assert v.effect == pytest.approx(-0.01) and v.verdict == "supported"  # at 150 -> the grid's 200
    assert v.details["smallest_x"] == 200 and v.n_seeds == 3
    v = verdicts.study_verdict(_table(rows), {"effect": "within", "at": 100, "tolerance": 0.02})
    assert v.verdict == "contradicted" and v.effect == pytest.approx(-0.05)
    assert v.metrics()["verdict/supported"] == 0.0 and v.tags()["verdict"] == "contradicted"


def test_max_drop_is_per_line_against_no_dropout():
    rows = [(x, line, seed, 0.8 - (0.1 if (line == 0.5 and x == 0.9) else 0.0) + 0.001 * seed)
            for line in (0.3, 0.5) for x in (0.0, 0.5, 0.9) for seed in range(3)]
    v = verdicts.study_verdict(_table(rows), {"effect": "max_drop", "reference": 0.0, "tolerance": 0.02})
    assert v.effect == pytest.approx(0.1) and v.verdict == "contradicted"
    assert (v.details["worst_x"], v.details["worst_line"]) == (0.9, 0.5)


def test_difference_is_paired_by_seed_and_one_seed_is_inconclusive():
    rows = [(n, np.nan, seed, base + (0.02 if n == 10 else 0.0))
            for seed, base in enumerate((0.6, 0.7, 0.8)) for n in (0, 10)]
    v = verdicts.study_verdict(_table(rows), {"effect": "difference", "at": 10, "reference": 0, "threshold": 0.0})
    assert v.effect == pytest.approx(0.02) and v.ci_low == pytest.approx(0.02) and v.verdict == "supported"
    one = verdicts.study_verdict(_table([r for r in rows if r[2] == 0]), {"effect": "difference", "at": 10,
                                                                         "reference": 0})
    assert one.verdict == "inconclusive"


def test_metric_verdict_and_bad_effect():
    table = pd.DataFrame({"x": np.nan, "line": np.nan, "seed": [0, 1, 2], "fp_reduction_matched/augmented": [0.4, 0.5, 0.45]})
    v = verdicts.study_verdict(table, {"effect": "metric", "metric": "fp_reduction_matched/augmented", "paper": 0.404})
    assert v.effect == pytest.approx(0.45) and v.verdict == "supported" and v.details["paper"] == 0.404
    with pytest.raises(ValueError, match="verdict effect"):
        verdicts.study_verdict(table, {"effect": "median"})


def test_every_study_preset_has_a_verdict_block():
    from experiments.reports.figures import study_specs

    specs = study_specs()
    assert {name for name, spec in specs.items() if spec.get("verdict")} == set(specs)
    for spec in specs.values():
        assert spec["verdict"]["effect"] in verdicts.EFFECTS and spec["verdict"]["claim"]


def test_parent_run_records_the_verdict(tmp_path, store):
    from types import SimpleNamespace

    from experiments.reports.summaries import record_verdict

    client = MlflowClient(store)
    parent = client.create_run(client.create_experiment("fig4c")).info.run_id
    runs = [SimpleNamespace(data=SimpleNamespace(params={"neighbors": str(n), "seed": str(seed)},
                                                 metrics={"auroc": 0.6 + 0.01 * seed + (0.05 if n else 0.0)}))
            for n in (0, 10) for seed in range(3)]
    spec = {"x": "neighbors", "verdict": {"claim": "4C", "effect": "difference", "at": 10, "reference": 0}}
    record_verdict(client, parent, runs, spec)
    logged = client.get_run(parent).data
    assert logged.metrics["verdict/effect"] == pytest.approx(0.05) and logged.metrics["verdict/supported"] == 1.0
    assert logged.tags["verdict"] == "supported" and logged.tags["claim"] == "4C"
    assert "+0.050" in logged.tags["verdict_line"] and "FAILED" not in logged.tags["verdict_line"]
    # a run whose model failed to learn stays in the verdict at its AUROC, and the line counts it
    runs[0].data.tags = {"trust": "failed_to_learn"}
    record_verdict(client, parent, runs, spec)
    line = client.get_run(parent).data.tags["verdict_line"]
    assert "+0.050" in line and line.endswith("(1 of 6 runs FAILED to learn: counted at their AUROC, marked x in the figure)")
