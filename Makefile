# Two set-up-and-go commands: `make run` (the default job) and `make test` (the test suite).
# Each creates/refreshes .venv from the pinned set in requirements.lock before doing its job.
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.deps-installed

.PHONY: run test test-fast test-slow bench results verdicts ui server dashboard
SERVER_PORT ?= 5001
DASHBOARD_PORT ?= 8080
OPTUNA_STORAGE ?= sqlite:///mlflow/optuna.db

$(STAMP): requirements.lock pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade "pip>=24"
	$(VENV)/bin/python -m pip install --quiet -r requirements.lock
	$(VENV)/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(VENV)/bin/python -m pip check
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/python run.py $(ARGS)

test: $(STAMP)  # everything, the slow end-to-end tests included (what CI runs)
	$(VENV)/bin/python -m pytest -q $(ARGS)

test-fast: $(STAMP)  # the quick loop: no subprocess / end-to-end tests
	$(VENV)/bin/python -m pytest -q -m "not slow" $(ARGS)

test-slow: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m slow $(ARGS)

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/bench_images.py

# The default job's numbers, measured: neighbors=0,10 x seed=0,1,2 on a private store (nothing reused),
# written with date, machine and load to docs/results/default-job.md (benchmarks/default_job.py).
results: $(STAMP)
	$(VENV)/bin/python benchmarks/default_job.py $(ARGS)

# Which verdict holds where (docs/studies.md): each study of VERDICT_STUDIES on our simulator, SERGIO
# and the two shared real folders (VERDICT_SOURCES; a data.path=DIR is a BEELINE folder), under each
# split of VERDICT_SPLITS, seeds 0-2, one store (VERDICT_STORE), then task=report draws the claim x data
# source matrix. fig3_real runs DeepDRIM, CNNC, PCC, the target-only ablation and the controls; each fig4
# claim runs the two points its verdict compares (4A: 1/8 of the cells vs all, 4B: no added dropout vs
# cutoff 0.9 at probability 0.5, 4D: 40% of the training pairs vs all). fig3_real alone took ~2.5 h of
# wall on 2 cores; the three fig4 claims 70 min (tf) and 93 min (strict) on mHSC-L, 16-23 min per split
# on SERGIO (measured 2026-12-04, each with its own all-data jobs: fig4d now reuses fig4a's), 1-8 min per claim
# on mDC (383 cells). On a folder of fewer than 800 cells 1/8 is below 4A's 100 cells ("not
# testable"): run the 4A command again with cells=0.27,1.0 (an integer count works too), as done for mDC.
# The direction claim has its own commands (docs/direction.md). Finished jobs are reused, so an
# interrupted run picks up where it stopped.
VERDICT_STORE ?= mlflow/verdicts
REAL ?= ../shared/data/beeline-real
VERDICT_SOURCES ?= data=sim data=sergio data.path=$(REAL)/mHSC-L-specific-500 data.path=$(REAL)/mDC-specific-500
VERDICT_SPLITS ?= tf strict
VERDICT_STUDIES ?= "experiment=fig3_real method=deepdrim,cnnc,pcc,target_only" \
	"experiment=fig4a_cells scale=laptop cells=0.125,1.0" \
	"experiment=fig4b_dropout scale=laptop drop_prob=0.5 drop_cutoff=0.0,0.9" \
	"experiment=fig4d_train_fraction scale=laptop train_fraction=0.4,1.0"
verdicts: $(STAMP)
	for study in $(VERDICT_STUDIES); do for source in $(VERDICT_SOURCES); do for split in $(VERDICT_SPLITS); do \
	  case $$source in data.path=*) data="data=beeline $$source";; *) data=$$source;; esac; \
	  $(VENV)/bin/python run.py -m $$study seed=0,1,2 $$data cv.split=$$split paths.store=$(VERDICT_STORE) \
	    $(ARGS) || exit $$?; done; done; done
	$(VENV)/bin/python run.py task=report paths.store=$(VERDICT_STORE)

# MLflow 3.17 opens experiments in its GenAI view: the printed links open each one's runs table
ui: $(STAMP)
	@$(VENV)/bin/python -m experiments.tracking.mlflow_ui sqlite:///mlflow/mlflow.db http://127.0.0.1:5000
	@PYTHONWARNINGS="ignore:starlette.middleware.wsgi is deprecated" \
	  $(VENV)/bin/mlflow ui --backend-store-uri sqlite:///mlflow/mlflow.db --port 5000  # MLflow's own deprecation notice (experiments/tracking/server.py)

# Shared tracking server (docs/scale-out.md): sqlite mlflow/server.db + proxied artifacts in
# mlflow/server-artifacts on 127.0.0.1:$(SERVER_PORT); jobs log with tracking.uri=http://127.0.0.1:$(SERVER_PORT).
# ARGS="--host 0.0.0.0 --backend-store-uri postgresql://..." serves other machines / many writers.
server: $(STAMP)
	$(VENV)/bin/python -m experiments.tracking.server --port $(SERVER_PORT) $(ARGS)

# Optuna dashboard on the search's storage (default: the sqlite study of task=search; a journal
# file works too: make dashboard OPTUNA_STORAGE=/shared/optuna.log).
# The storage is created first when missing: optuna-dashboard crashes on a new sqlite file (no tables).
dashboard: $(STAMP)
	@mkdir -p mlflow
	$(VENV)/bin/python -c "import sys; from experiments.tracking.optuna_storage import optuna_storage; optuna_storage(sys.argv[1])" "$(OPTUNA_STORAGE)"
	$(VENV)/bin/optuna-dashboard --host 127.0.0.1 --port $(DASHBOARD_PORT) $(OPTUNA_STORAGE)
