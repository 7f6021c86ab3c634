#!/bin/bash
# How sharing the GPU slows an example: copies of one example's command.sh started at once, each in its own copy of
# the example, measured as a batch. Issue 13 (the suite on 16 workers took about 7 times what its examples take
# alone, with half the CPU idle): is it the CPU, the GPU's time-slicing between processes, or neither?
#   bash tests/gpu_contention.sh EXAMPLE BATCH...     # a BATCH is a number of copies, "mps" after it: under CUDA MPS
#   bash tests/gpu_contention.sh 02-API/Layer/ElementWiseLayer 1 16 16mps
# For each batch, one line: copies, MPS or not, the batch's wall time, each copy's wall time (median, max), its CPU
# time (user + system of the copy's processes, median), the share of all CPU cores the batch kept busy, its engine
# builds and their seconds (median per copy, from tests/profiling/sitecustomize.py). A copy that fails is counted and its log kept (CONTENTION_DIR, by default
# /tmp/cookbook-contention).
# MPS: the control daemon is started for that batch only and told to quit after it (tests/mps.sh). CONTENTION_TIMEOUT (seconds, default 600) stops a copy that runs longer.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
source tests/mps.sh
EXAMPLE=${1:?usage: bash tests/gpu_contention.sh EXAMPLE BATCH...}
shift
case $EXAMPLE in /*) SOURCE=$EXAMPLE ;; *) SOURCE=$ROOT/$EXAMPLE ;; esac
[ -f "$SOURCE/command.sh" ] || { echo "no command.sh in $SOURCE" >&2; exit 2; }
WORK=${CONTENTION_DIR:-/tmp/cookbook-contention}
rm -rf "$WORK" && mkdir -p "$WORK"
printf '%-7s %-4s %8s %10s %10s %10s %8s %7s %9s %s\n' copies mps "batch s" "copy med" "copy max" "cpu med" "cpu use" builds "build s" failed

for batch in "$@"; do
    copies=${batch%mps}
    mps=no
    if [ "$copies" != "$batch" ]; then
        mps=yes
        mps_start "$WORK" || { echo "$batch: nvidia-cuda-mps-control -d failed"; continue; }
    fi
    dir=$WORK/$batch
    start=$(date +%s.%N)
    for i in $(seq "$copies"); do
        mkdir -p "$dir/$i" && cp -r "$SOURCE/." "$dir/$i/"
        (
            cd "$dir/$i" || exit 1
            export COOKBOOK_PROFILE_FILE=$dir/$i.profile.jsonl PYTHONPATH=$ROOT/tests/profiling${PYTHONPATH:+:$PYTHONPATH}
            TIMEFORMAT='%R %U %S'
            { time timeout "${CONTENTION_TIMEOUT:-600}" bash command.sh > "$dir/$i.log" 2>&1; echo "rc $?" >> "$dir/$i.log"; } 2> "$dir/$i.time"
        ) &
    done
    wait
    end=$(date +%s.%N)
    [ "$mps" = yes ] && mps_stop
    python3 - "$dir" "$copies" "$mps" "$start" "$end" "$(nproc)" <<'EOF'
import json, statistics, sys
from pathlib import Path
folder, copies, mps, start, end = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], *map(float, sys.argv[4:6])
cores = int(sys.argv[6])
walls, cpus, builds, build_seconds, failed = [], [], [], [], 0
for i in range(1, copies + 1):
    real, user, system = map(float, (folder / f"{i}.time").read_text().split()[-3:])
    walls.append(real)
    cpus.append(user + system)
    failed += not (folder / f"{i}.log").read_text().rstrip().endswith("rc 0")
    records = [json.loads(line) for line in (folder / f"{i}.profile.jsonl").read_text().splitlines()] \
        if (folder / f"{i}.profile.jsonl").exists() else []
    done = [b for r in records for b in r.get("builds", [])]
    builds.append(len(done))
    build_seconds.append(sum(b[2] for b in done))  # [method, start, seconds]
print(f"{copies:<7} {mps:<4} {end - start:8.1f} {statistics.median(walls):10.1f} {max(walls):10.1f} "
      f"{statistics.median(cpus):10.1f} {100 * sum(cpus) / ((end - start) * cores):7.0f}% {statistics.median(builds):7.0f} {statistics.median(build_seconds):9.1f} {failed}")
EOF
done
