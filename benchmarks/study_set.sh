#!/usr/bin/env bash
# The study set's wall (issue #22 item 3): the five simulation studies at scale=laptop, 3 seeds each,
# one after another into one fresh store, then task=report for their verdicts. Prints each study's
# wall, the load average around it, and the total; a configuration two studies share is trained once
# (the later study reuses it: "[skip] ... the same computation FINISHED", listed in study_runs.csv).
#
#   bash benchmarks/study_set.sh [STORE]        # default STORE: /tmp/study_set (removed first)
#
# fig4b runs the coarser cutoff grid docs/studies.md uses at laptop scale (24 jobs instead of 60).
set -euo pipefail
cd "$(dirname "$0")/.."
STORE=${1:-/tmp/study_set}
rm -rf "$STORE"
PY=.venv/bin/python
STUDIES=(
  "experiment=fig4c_neighbors"
  "experiment=fig4a_cells"
  "experiment=fig4d_train_fraction"
  "experiment=fig4b_dropout drop_cutoff=0.0,0.3,0.6,0.9"
  "experiment=fig1_ggm"
)
load() { cut -d' ' -f1 /proc/loadavg; }
total=0
echo "study set at scale=laptop, seeds 0-2, store $STORE, commit $(git rev-parse --short HEAD), load $(load)"
for study in "${STUDIES[@]}"; do
  start=$(date +%s); before=$(load)
  # shellcheck disable=SC2086 # the study's overrides are words
  log="$STORE.$(echo "$study" | cut -d' ' -f1 | cut -d= -f2).log"
  $PY run.py -m $study scale=laptop seed=0,1,2 paths.store="$STORE" paths.multirun="$STORE/multirun" > "$log" 2>&1 \
    || echo "  exit status $? (see $log)"
  wall=$(( $(date +%s) - start )); total=$(( total + wall ))
  printf '%-60s %6d s  (load %s -> %s; %s jobs reused)\n' "$study" "$wall" "$before" "$(load)" \
    "$(grep -c '^\[skip\]' "$log" || true)"
  grep -h "^verdict:" "$log" || true
done
printf '%-60s %6d s  (%.1f min)\n' "total" "$total" "$(echo "$total / 60" | bc -l)"
$PY run.py task=report paths.store="$STORE" > "$STORE.report.log" 2>&1 && echo "report: $STORE.report.log"
