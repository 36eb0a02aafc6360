"""Does Ctrl-C (or SIGTERM) always end a training job KILLED, wherever it lands? Starts a tiny
long-running cv job again and again, signals it a given delay after its run shows RUNNING, and
counts the tries that did not exit within the timeout (a hang: the process is then dumped with
faulthandler into OUT/hang<i>.err and killed).

    PYTHONPATH=. .venv/bin/python benchmarks/signal_stress.py --delays 0:3:0.05 --load

``--load`` runs a CPU burner beside the jobs (CI's stop-31 hang showed up only under load).
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = ["data.n_tfs=6", "data.n_genes=30", "data.n_cells=120", "data.n_master=2", "cv.n_folds=2",
        "model.conv_filters=[4,4,4]", "model.embedding=8", "model.dense_units=[8,4]", "neighbors=1",
        "training.epochs=400", "training.min_epochs=400", "training.patience=400"]


def _burn() -> None:
    while True:
        pass


def _running(db: Path) -> bool:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return bool(con.execute("SELECT COUNT(*) FROM runs WHERE status = 'RUNNING'").fetchone()[0])
    except sqlite3.Error:
        return False  # not created yet


def one_try(folder: Path, delay: float, signum: int, timeout: float) -> tuple[str, str]:
    """('exit <code>', last stderr line) or ('HANG', '') for one job signalled ``delay`` s after RUNNING."""
    db = folder / "mlflow.db"
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), *TINY, f"tracking.uri=sqlite:///{db}"],
                            cwd=folder, env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONFAULTHANDLER": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    while proc.poll() is None and not _running(db):
        time.sleep(0.3)
    time.sleep(delay)
    proc.send_signal(signum)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
        _, err = proc.communicate()
        (folder.parent / f"hang-{folder.name}.err").write_text(err)
        return "HANG", ""
    lines = err.strip().splitlines()
    return f"exit {proc.returncode}", lines[-1] if lines else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delays", default="0:3:0.05", help="start:stop:step seconds after RUNNING (stop excluded)")
    parser.add_argument("--signal", default="SIGINT", choices=["SIGINT", "SIGTERM"])
    parser.add_argument("--timeout", type=float, default=40.0, help="seconds a job may take to exit")
    parser.add_argument("--load", action="store_true", help="a CPU burner beside the jobs")
    parser.add_argument("--out", type=Path, default=None, help="where hang dumps go (default: a temp folder)")
    args = parser.parse_args()
    start, stop, step = (float(x) for x in args.delays.split(":"))
    delays = [round(start + i * step, 3) for i in range(int(round((stop - start) / step)))]
    out = args.out or Path(tempfile.mkdtemp(prefix="signal-stress-"))
    out.mkdir(parents=True, exist_ok=True)
    burner = multiprocessing.Process(target=_burn, daemon=True) if args.load else None
    if burner:
        burner.start()
    signum = signal.Signals[args.signal].value
    hangs = 0
    try:
        for i, delay in enumerate(delays):
            folder = out / f"try{i}"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            status, line = one_try(folder, delay, signum, args.timeout)
            hangs += status == "HANG"
            print(f"{i:3d}  delay {delay:5.2f} s  {status}  {line[:110]}", flush=True)
            if status != "HANG":
                shutil.rmtree(folder, ignore_errors=True)
    finally:
        if burner:
            burner.terminate()
    print(f"{args.signal}: {hangs} hang(s) in {len(delays)} tries (load: {args.load}); dumps under {out}")


if __name__ == "__main__":
    main()
