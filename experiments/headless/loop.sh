#!/usr/bin/env bash
# Run the whole series headless in smoke N times (issue 20, item 4) and log, per run, the
# wall time, the exit status and any lost-reply retry of tools/run_notebooks.py.
#   experiments/headless/loop.sh 20 /tmp/hang     # -> /tmp/hang/summary.tsv
set -uo pipefail
cd "$(dirname "$0")/../.."
N=${1:-20}; OUT=${2:-/tmp/hang}
mkdir -p "$OUT"
printf "run\tseconds\trc\tretries\n" > "$OUT/summary.tsv"
for i in $(seq 1 "$N"); do
    start=$(date +%s)
    COURSE_PROFILE=smoke HF_HUB_OFFLINE=1 .venv/bin/python tools/run_notebooks.py \
        --out "$OUT/run$i" > "$OUT/run$i.log" 2>&1
    rc=$?
    retries=$(grep -c "retrying the notebook" "$OUT/run$i.log")
    printf "%s\t%s\t%s\t%s\n" "$i" "$(( $(date +%s) - start ))" "$rc" "$retries" >> "$OUT/summary.tsv"
done
cat "$OUT/summary.tsv"
