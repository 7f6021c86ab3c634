#!/bin/bash
# The whole GPU suite takes longer than one command of the lent GPU machine may run (10 minutes), so it runs in the
# background there and is looked at by short commands:
#   bash tests/gpu_background.sh start [pytest options...]   # e.g. -v -k "05-Plugin" or -v --stale-only; returns at once
#   bash tests/gpu_background.sh status                      # progress: examples finished, the last lines
#   bash tests/gpu_background.sh collect                     # when it has ended: junit.xml + logs.tgz into $OUT
#   bash tests/gpu_background.sh stop                        # interrupt it (SIGINT: the JUnit file keeps what ended)
# Every example's Python processes record their scripts and engine builds (COOKBOOK_PROFILE_DIR, see
# tests/profiling/sitecustomize.py; `python3 tests/profile_report.py logs junit.xml` sums them). COOKBOOK_MPS=1 before
# `start` runs the suite under CUDA MPS (an experiment: processes then share the GPU without time-slicing; the control
# daemon is started for this run only and told to quit when pytest ends; the GPU's settings are not touched).
# Each command returns in seconds; call `status` (for example `sleep 500; bash tests/gpu_background.sh status`)
# often enough that the machine is never idle long enough to be given back. Everything goes to /tmp/cookbook-suite.
set -uo pipefail
SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$0")/.."
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
    mps=0
    if [ "${COOKBOOK_MPS:-0}" = 1 ]; then
        if command -v nvidia-cuda-mps-control > /dev/null; then
            mkdir -p "$DIR/mps-pipe" "$DIR/mps-log"
            export CUDA_MPS_PIPE_DIRECTORY=$DIR/mps-pipe CUDA_MPS_LOG_DIRECTORY=$DIR/mps-log
            nvidia-cuda-mps-control -d && mps=1 && echo "CUDA MPS: control daemon started" > "$DIR/mps.txt"
        else
            echo "COOKBOOK_MPS=1 but no nvidia-cuda-mps-control on PATH: the suite runs without MPS" > "$DIR/mps.txt"
        fi
    fi
    source "${COOKBOOK_ENV_SH:-/opt/trt-8.6.0/env.sh}"
    for attempt in 1 2; do
        COOKBOOK_LOG_DIR=$DIR/logs COOKBOOK_PROFILE_DIR=$DIR/logs COOKBOOK_TIMEOUT_CAP=1500 \
            python3 -m pytest tests/test_examples_gpu.py -n 16 -m gpu -p no:cacheprovider \
            --junitxml="$DIR/junit.xml" "$@" > "$DIR/pytest.log" 2>&1
        rc=$?
        # seen once (2026-12-02): xdist's workers collected differently and the run ended at once; the log of that
        # attempt is kept (pytest-attempt1.log, it holds the difference) and the suite started once more
        if [ "$attempt" = 1 ] && [ "$rc" != 0 ] && grep -q "Different tests were collected" "$DIR/pytest.log"; then
            mv "$DIR/pytest.log" "$DIR/pytest-attempt1.log"
            continue
        fi
        break
    done
    echo "$rc" > "$DIR/rc"
    [ "$mps" = 1 ] && echo quit | nvidia-cuda-mps-control
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
    echo "passed $(grep -c ' PASSED ' "$DIR/pytest.log"), failed $(grep -c ' FAILED ' "$DIR/pytest.log"), skipped $(grep -c ' SKIPPED ' "$DIR/pytest.log")"
    grep ' FAILED ' "$DIR/pytest.log" | cut -c 1-200
    tail -n 5 "$DIR/pytest.log" 2>/dev/null | cut -c 1-200
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
    cp "$DIR/pytest.log" "$OUT/" || exit 1
    cp "$DIR/junit.xml" "$OUT/" || echo "no junit.xml: pytest did not get to write it (see pytest.log)"
    cp "$DIR/vmstat.log" "$DIR/gpu.log" "$DIR/run.log" "$OUT/" 2>/dev/null
    [ -f "$DIR/pytest-attempt1.log" ] && cp "$DIR/pytest-attempt1.log" "$OUT/" \
        && echo "the first attempt ended at collection (xdist's workers collected differently): pytest-attempt1.log"
    tar czf "$OUT/logs.tgz" -C "$DIR" logs $(cd "$DIR" && ls -d mps-log mps.txt 2>/dev/null) || exit 1
    echo "exit code $(cat "$DIR/rc"), $(( $(cat "$DIR/ended") - $(cat "$DIR/started") )) s; copied pytest.log, junit.xml, logs.tgz"
    tail -n 15 "$DIR/pytest.log" | cut -c 1-200
    ;;
*)
    echo "usage: bash tests/gpu_background.sh start [pytest options] | status | stop | collect" >&2
    exit 2
    ;;
esac
