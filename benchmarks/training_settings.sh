#!/usr/bin/env bash
# Held-out CV AUROC and wall time of training.batch_order x training.precision (issue 10 item 1).
# One CV job per (data, seed, setting), run one at a time; each line of $LOG: the command's
# overrides, its wall seconds and the load (uptime) when it started. The AUROCs are read back
# with `python benchmarks/collect_runs.py $STORE --experiment training_settings`.
#   bash benchmarks/training_settings.sh "data=template" "0 1"
set -u
DATA=${1:-"data=template"}; SEEDS=${2:-"0 1"}
STORE=${STORE:-/tmp/laptop/training_settings}; LOG=${LOG:-$STORE/wall.log}
mkdir -p "$STORE"
PY=${PY:-/work/main/.venv/bin/python}
for seed in $SEEDS; do
  for setting in "grouped auto" "random float32" "random auto" "grouped float32"; do
    set -- $setting
    args="$DATA seed=$seed training.batch_order=$1 training.precision=$2"
    load=$(uptime | sed 's/.*load average: //')
    start=$(date +%s.%N)
    PYTHONPATH=$PWD $PY run.py $args paths.store=$STORE tracking.experiment=training_settings \
      hydra.run.dir=$STORE/outputs/\${now:%H-%M-%S-%f} > "$STORE/last.out" 2>&1 || echo "FAILED $args" >> "$LOG"
    end=$(date +%s.%N)
    printf '%s\twall=%.0f s\tload=%s\n' "$args" "$(echo "$end - $start" | bc)" "$load" >> "$LOG"
  done
done
