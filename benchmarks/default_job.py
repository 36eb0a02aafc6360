"""``make results``: the default job's numbers, measured by a command and written down with their
date, machine and load.

Runs ``python run.py -m neighbors=0,10 seed=0,1,2`` on a private store (a new temporary folder, so
no earlier run is reused) and writes ``docs/results/default-job.md``: per seed the pooled AUROC of
DeepDRIM (``neighbors=10``, the default job) and CNNC (``neighbors=0``) with their bootstrap CIs
over TFs, the Pearson |r| and gene-prior baselines of the same pairs, and each job's wall time.
The README quotes its line ``Default job AUROC (seed 0): 0.xxx`` (what ``make run`` prints on a
machine of the same precision; ``tests/test_readme_commands.py`` checks it).

    python benchmarks/default_job.py                       # the sweep above -> docs/results/default-job.md
    python benchmarks/default_job.py --seeds 0 --out /tmp/x.md -- training.epochs=2   # extra run.py overrides
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter (precision() imports it)
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "results" / "default-job.md"
#: the line the README quotes and its test greps
MARKER = "Default job AUROC (seed 0):"


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def precision() -> str:
    """What ``training.precision=auto`` computes in on this machine (it changes the numbers)."""
    from deepdrim.estimator import _bf16_hardware

    return "mixed_bfloat16" if _bf16_hardware() else "float32"


def git_commit() -> str:
    """The checked-out commit (with ``+changes`` when the tree differs from it)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
        return commit + (" +changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def collect(store: Path) -> dict:
    """{(neighbors, seed): metrics of that FINISHED job} from the store the sweep wrote."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("deepdrim")
    runs = client.search_runs([experiment.experiment_id], "attributes.status = 'FINISHED' and tags.task = 'cv'")
    return {(int(run.data.params["neighbors"]), int(run.data.params["seed"])): run.data.metrics for run in runs}


def _ci(metrics: dict) -> str:
    return f"{metrics['auroc']:.3f} [{metrics['auroc_ci_low']:.2f}, {metrics['auroc_ci_high']:.2f}]"


def render(results: dict, seeds: list, *, command: str, started: str, load_start: Optional[tuple],
           load_end: tuple, wall: float) -> str:
    """The markdown page: what was run where, the table, the seed-0 marker line."""
    rows, sums = [], {"deepdrim": [], "cnnc": [], "pcc": [], "prior": []}
    missing = [seed for seed in seeds if (10, seed) not in results]
    for seed in [seed for seed in seeds if (10, seed) in results]:
        deep, cnnc = results[(10, seed)], results.get((0, seed))
        walls = f"{deep['wall_seconds']:.0f} s / " + (f"{cnnc['wall_seconds']:.0f} s" if cnnc else "-")
        rows.append(f"| {seed} | **{_ci(deep)}** | {_ci(cnnc) if cnnc else '-'} | {deep['pcc/auroc']:.3f} | "
                    f"{deep['prior/auroc']:.3f} | {walls} |")
        sums["deepdrim"].append(deep["auroc"])
        sums["pcc"].append(deep["pcc/auroc"])
        sums["prior"].append(deep["prior/auroc"])
        if cnnc:
            sums["cnnc"].append(cnnc["auroc"])
    mean = {k: (f"{sum(v) / len(v):.3f}" if v else "-") for k, v in sums.items()}
    seed0 = results.get((10, 0))
    marker = f"{MARKER} {seed0['auroc']:.3f}" if seed0 else f"{MARKER} (seed 0 not run)"
    return "\n".join([
        "# The default job: measured results",
        "",
        "Written by `make results` (`python benchmarks/default_job.py`); do not edit by hand, run it again.",
        "",
        f"- date: {started} UTC; code: commit {git_commit()}",
        f"- command: `{command}` on a private store (nothing reused)",
        f"- machine: {cpu_model()}, {os.cpu_count()} cores; `training.precision=auto` computes in "
        f"{precision()} here (the numbers depend on it)",
        (f"- load average (1/5/15 min) at the start {load_start[0]:.1f}/{load_start[1]:.1f}/{load_start[2]:.1f}, "
         if load_start else "- load average (1/5/15 min) ")
        + f"at the end {load_end[0]:.1f}/{load_end[1]:.1f}/{load_end[2]:.1f}; whole sweep {wall / 60:.1f} min",
        "",
        "Pooled AUROC over the three TF-aware folds of all labelled pairs, with a 95 % bootstrap CI over TFs;",
        "Pearson |r| and the gene prior (a target's positive rate among the training pairs, no expression)",
        "score the same pairs; wall = the job's own `wall_seconds` (TensorFlow start-up not included).",
        "",
        "| seed | DeepDRIM `neighbors=10` (the default job) [CI] | CNNC `neighbors=0` [CI] | Pearson \\|r\\| "
        "| gene prior | wall n=10 / n=0 |",
        "|---|---|---|---|---|---|",
        *rows,
        f"| mean | {mean['deepdrim']} | {mean['cnnc']} | {mean['pcc']} | {mean['prior']} | |",
        "",
        *([f"Not finished: the `neighbors=10` job of seed(s) {', '.join(map(str, missing))} (the CNNC column "
           f"and the means cover the seeds shown).", ""] if missing else []),
        marker,
        "",
    ])


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the markdown file to write")
    parser.add_argument("--store", type=Path, default=None, help="store folder (default: a new temporary one)")
    parser.add_argument("--render-only", metavar="STARTED", default=None,
                        help="write the page from --store as it is (a sweep started at STARTED, "
                             "'YYYY-MM-DD HH:MM' UTC, and stopped early), without running anything")
    parser.add_argument("overrides", nargs="*", help="extra run.py overrides (after --)")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    store = args.store or Path(tempfile.mkdtemp(prefix="deepdrim-results-"))
    sweep = ["-m", "neighbors=0,10", f"seed={','.join(map(str, seeds))}"]
    command = " ".join(["python run.py", *sweep, *args.overrides])
    started = args.render_only or dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    load_start, start = os.getloadavg(), time.time()
    if args.render_only is None:
        subprocess.run([sys.executable, str(ROOT / "run.py"), *sweep, *args.overrides, f"paths.store={store}",
                        f"paths.outputs={store / 'outputs'}", f"paths.multirun={store / 'multirun'}"],
                       cwd=ROOT, check=True)
    else:  # the sweep's own start: its first run's start time
        start = dt.datetime.strptime(started, "%Y-%m-%d %H:%M").replace(tzinfo=dt.timezone.utc).timestamp()
    wall, load_end = time.time() - start, os.getloadavg()
    text = render(collect(store), seeds, command=command, started=started,
                  load_start=load_start if args.render_only is None else None,
                  load_end=load_end, wall=wall)
    from deepdrim.files import write_text

    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text(text, args.out)
    print(text.rstrip().splitlines()[-1])
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
