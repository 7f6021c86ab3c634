#!/bin/bash
# requires: polygraphy python:torch python:onnxruntime
# Run from anywhere: bash 07-Tool/Polygraphy-CLI/Convert/command.sh
# `polygraphy convert` builds and saves an engine (what `polygraphy run --save-engine` does, without running it).
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.onnx ./*.plan ./*.cache ./result-*.log

run() {  # run LOG COMMAND...: print the command, keep its output in LOG, check its exit code
    local log=$1
    shift
    echo "\$ $*  > $log"
    if "$@" > "$log" 2>&1; then
        echo "  exit code 0, last line: $(grep -v '^[[:space:]]*$' "$log" | tail -n 1 | cut -c 1-110)"
    else
        local code=$?
        tail -n 30 "$log"
        echo "  exit code $code: see $log"
        exit "$code"
    fi
}

echo "=== get_model.py: model.onnx (small CNN, input x [batch,1,28,28])"
python3 get_model.py

echo "=== 01 ONNX -> plan, FP32, two optimization profiles (give min/opt/max once per profile), save the timing cache"
run result-convert-FP32.log polygraphy convert model.onnx --convert-to trt -o model.plan \
    --trt-min-shapes "x:[1,1,28,28]" --trt-opt-shapes "x:[4,1,28,28]" --trt-max-shapes "x:[8,1,28,28]" \
    --trt-min-shapes "x:[8,1,28,28]" --trt-opt-shapes "x:[16,1,28,28]" --trt-max-shapes "x:[32,1,28,28]" \
    --save-timing-cache timing.cache

echo "=== 02 ONNX -> plan, FP16, one profile, starting from the timing cache of 01 (and adding to it)"
run result-convert-FP16.log polygraphy convert model.onnx --convert-to trt -o model-FP16.plan --fp16 \
    --trt-min-shapes "x:[1,1,28,28]" --trt-opt-shapes "x:[4,1,28,28]" --trt-max-shapes "x:[8,1,28,28]" \
    --load-timing-cache timing.cache --save-timing-cache timing.cache

echo "=== main.py: load both plans in Python, run each profile, compare with onnxruntime"
python3 main.py
