#!/bin/bash
# The whole GPU suite takes longer than one command of the lent GPU machine may run (10 minutes), so it runs in the
# background there and is looked at by short commands:
#   bash tests/gpu_background.sh start [pytest options...]   # e.g. -v -k "05-Plugin" or -v --stale-only; returns at once
#   bash tests/gpu_background.sh status                      # progress: examples finished, the last lines
#   bash tests/gpu_background.sh collect                     # when it has ended: junit-*.xml + logs.tgz into $OUT
#   bash tests/gpu_background.sh stop                        # interrupt it (SIGINT: the JUnit file keeps what ended)
# Two phases: first the examples that share the GPU (`-n 16 -m "gpu and not alone"`), under CUDA MPS
# (processes then share the GPU without time-slicing, about 3 times faster here; the control daemon is started for
# this phase only and told to quit after it; the GPU's settings are not touched; COOKBOOK_MPS=0: without MPS), then
# those that measure speed (`# alone: yes`, `-n 1 -m "gpu and alone"`), without MPS, each with the GPU to itself.
# junit-shared.xml + junit-alone.xml, pytest-shared.log + pytest-alone.log. Every example's Python processes record
# their scripts and engine builds (COOKBOOK_PROFILE_DIR, see tests/profiling/sitecustomize.py; `python3
# tests/profile_report.py logs junit-*.xml` sums them). Do not pass -m: each phase sets its own.
# Each command returns in seconds; call `status` (for example `sleep 500; bash tests/gpu_background.sh status`)
# often enough that the machine is never idle long enough to be given back. Everything goes to /tmp/cookbook-suite.
set -uo pipefail
SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$0")/.."
source tests/mps.sh
DIR=/tmp/cookbook-suite

case "${1:-}" in
start)
    shift
    rm -rf "$DIR" && mkdir -p "$DIR/logs"
    date +%s > "$DIR/started"
    # setsid + nohup: the suite outlives the command that started it; set -m: without job control, bash starts a
    # background command with SIGINT ignored, and pytest would then ignore `stop`
    set -m
    setsid nohup bash "$SELF" _run "$@" > "$DIR/run.log" 2>&1 < /dev/null &
    echo "started in the background (pid $!): bash tests/gpu_background.sh status"
    ;;
_run)  # what `start` runs in the background
    shift
    # beside it, every 20 s: CPU and memory (vmstat) and the GPU's use (nvidia-smi), to see which one the suite waits for
    vmstat -t -w 20 > "$DIR/vmstat.log" 2>&1 &
    vmstat_pid=$!
    nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 20 > "$DIR/gpu.log" 2>&1 &
    smi_pid=$!
    source "${COOKBOOK_ENV_SH:-/opt/trt-8.6.0/env.sh}"
    # one phase: pytest on WORKERS workers with the given mark expression; JUnit file and log named after the phase
    phase() {  # phase NAME WORKERS MARKEXPR [pytest options...]
        local name=$1 workers=$2 marks=$3 attempt
        shift 3
        for attempt in 1 2; do
            COOKBOOK_LOG_DIR=$DIR/logs COOKBOOK_PROFILE_DIR=$DIR/logs COOKBOOK_TIMEOUT_CAP=1500 \
                python3 -m pytest tests/test_examples_gpu.py -n "$workers" -m "$marks" -p no:cacheprovider \
                --junitxml="$DIR/junit-$name.xml" "$@" > "$DIR/pytest-$name.log" 2>&1
            rc=$?
            # seen once (2026-12-02): xdist's workers collected differently and the run ended at once; the log of
            # that attempt is kept (logs/pytest-NAME-attempt1.log, it holds the difference) and the phase started again
            if [ "$attempt" = 1 ] && [ "$rc" != 0 ] && grep -q "Different tests were collected" "$DIR/pytest-$name.log"; then
                mv "$DIR/pytest-$name.log" "$DIR/logs/pytest-$name-attempt1.log"
                continue
            fi
            return "$rc"
        done
    }
    # phase 1, the examples that share the GPU, under CUDA MPS: seen on the H200 (2026-12-03, tests/gpu_contention.sh),
    # 16 copies of one example took 73 s without MPS (the GPU time-sliced between 16 processes; each build ~50 times
    # longer than alone) and 18 s with it (12 s alone). COOKBOOK_MPS=0 runs them without.
    mps=0
    if [ "${COOKBOOK_MPS:-1}" = 1 ]; then
        if command -v nvidia-cuda-mps-control > /dev/null; then
            mps_start "$DIR" && mps=1 && echo "CUDA MPS: control daemon started" > "$DIR/mps.txt"
        else
            echo "no nvidia-cuda-mps-control on PATH: the examples share the GPU without MPS" > "$DIR/mps.txt"
        fi
    fi
    phase shared 16 "gpu and not alone" "$@"
    rc_shared=$?
    [ "$mps" = 1 ] && mps_stop  # the examples that measure speed run without it
    # phase 2, the examples that measure speed (`# alone: yes`), one at a time with the GPU to themselves, no MPS;
    # not after `stop` (pytest exits with 2 when interrupted)
    rc_alone=0
    [ "$rc_shared" != 2 ] && { phase alone 1 "gpu and alone" "$@"; rc_alone=$?; }
    # exit code 5 (no test selected, e.g. -k without a speed example) is no failure
    [ "$rc_alone" = 5 ] && rc_alone=0
    [ "$rc_shared" = 5 ] && rc_shared=0
    echo "$(( rc_shared > rc_alone ? rc_shared : rc_alone ))" > "$DIR/rc"
    date +%s > "$DIR/ended"
    kill "$vmstat_pid" "$smi_pid" 2> /dev/null
    ;;
status)
    [ -f "$DIR/started" ] || { echo "not started"; exit 1; }
    echo "$(( $(date +%s) - $(cat "$DIR/started") )) s since the start; $(ls "$DIR/logs" | grep -c '\.log$') examples finished"
    if [ -f "$DIR/rc" ]; then
        echo "ended with exit code $(cat "$DIR/rc") after $(( $(cat "$DIR/ended") - $(cat "$DIR/started") )) s"
    fi
    # with -v, xdist prints one line per finished test: count them and name the failures so far
    logs=()
    for log in "$DIR"/pytest-shared.log "$DIR"/pytest-alone.log; do [ -f "$log" ] && logs+=("$log"); done
    [ "${#logs[@]}" = 0 ] && { echo "no pytest log yet"; exit 0; }
    echo "passed $(cat "${logs[@]}" | grep -c ' PASSED '), failed $(cat "${logs[@]}" | grep -c ' FAILED '), skipped $(cat "${logs[@]}" | grep -c ' SKIPPED ')"
    cat "${logs[@]}" | grep ' FAILED ' | cut -c 1-200
    for log in "${logs[@]}"; do echo "--- $(basename "$log")"; tail -n 4 "$log" | cut -c 1-200; done
    ;;
stop)
    [ -f "$DIR/started" ] || { echo "not started"; exit 1; }
    # pytest's main process (xdist's workers and the examples do not start with this): it ends the workers and still
    # writes its JUnit file
    pkill -INT -f "^[^ ]*python3 -m pytest tests/test_examples_gpu.py"
    for _ in $(seq 60); do [ -f "$DIR/rc" ] && break; sleep 1; done
    [ -f "$DIR/rc" ] && echo "stopped: exit code $(cat "$DIR/rc")" || echo "still running 60 s after SIGINT"
    ;;
collect)
    [ -f "$DIR/rc" ] || { echo "still running (or never started): nothing collected"; exit 1; }
    : "${OUT:?collect writes into \$OUT, the folder the GPU machine sends back}"
    # at most 8 files come back: the two phases' JUnit files and logs, vmstat, nvidia-smi, run.log, logs.tgz
    cp "$DIR"/pytest-*.log "$OUT/" || exit 1
    cp "$DIR"/junit-*.xml "$OUT/" || echo "no JUnit file: pytest did not get to write it (see pytest-*.log)"
    cp "$DIR/vmstat.log" "$DIR/gpu.log" "$DIR/run.log" "$OUT/" 2>/dev/null
    ls "$DIR"/logs/pytest-*-attempt1.log 2>/dev/null \
        && echo "a first attempt ended at collection (xdist's workers collected differently): in logs.tgz"
    tar czf "$OUT/logs.tgz" -C "$DIR" logs $(cd "$DIR" && ls -d mps-log mps.txt 2>/dev/null) || exit 1
    echo "exit code $(cat "$DIR/rc"), $(( $(cat "$DIR/ended") - $(cat "$DIR/started") )) s; copied pytest-*.log, junit-*.xml, logs.tgz"
    for log in "$DIR"/pytest-shared.log "$DIR"/pytest-alone.log; do
        [ -f "$log" ] && { echo "--- $(basename "$log")"; tail -n 8 "$log" | cut -c 1-200; }
    done
    ;;
*)
    echo "usage: bash tests/gpu_background.sh start [pytest options] | status | stop | collect" >&2
    exit 2
    ;;
esac
