#!/bin/bash
# requires: polygraphy python:torch python:onnxruntime python:onnx_graphsurgeon
# Run from anywhere: bash 07-Tool/Polygraphy-CLI/Debug/command.sh
# `polygraphy debug` repeats a step (build an engine / cut a model / mark layers FP32), runs a --check command on
# what it made, and sorts the results into good and bad by the check's exit code.
set -euo pipefail
cd "$(dirname "$0")"
rm -rf ./*.onnx ./*.plan ./*.json ./result-*.log replays polygraphy_debug.*

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
SHAPES=(--trt-min-shapes "x:[1,1,28,28]" --trt-opt-shapes "x:[4,1,28,28]" --trt-max-shapes "x:[16,1,28,28]")

echo "=== get_model.py: model.onnx (small CNN), model-bad.onnx (a node TensorRT cannot parse), model-norm.onnx"
python3 get_model.py

echo "=== 01 debug build: build the FP16 engine twice, check each against onnxruntime, sort the tactic replays"
run result-golden.log polygraphy run model.onnx --onnxrt --input-shapes "x:[4,1,28,28]" --save-inputs inputs.json \
    --save-outputs golden.json
run result-debug-build.log polygraphy debug build model.onnx --fp16 "${SHAPES[@]}" --save-tactics replay.json \
    --artifacts replay.json --art-dir replays --until 2 \
    --check polygraphy run polygraphy_debug.engine --trt --load-inputs inputs.json --load-outputs golden.json \
    --atol 1e-2 --rtol 1e-2
grep -E "Finished|PASSED \||FAILED \|" result-debug-build.log | cut -c 1-150 || true
run result-diff-tactics.log polygraphy inspect diff-tactics --dir replays
grep -E "Loaded|bad tactics" result-diff-tactics.log || true

echo "=== 02 debug reduce: cut model-bad.onnx down to the smallest model that still fails to run in TensorRT"
run result-debug-reduce.log polygraphy debug reduce model-bad.onnx -o reduced.onnx --mode bisect \
    --check polygraphy run polygraphy_debug.onnx --trt
grep -E "Finished|Node\(s\)" result-debug-reduce.log || true

echo "=== 03 debug precision: how many layers (from the first) must run in FP32 for an FP16 engine to be accurate"
# --layer-precisions pins every operator layer to FP16 (obeyed: debug precision's default --precision-constraints),
# so that every layer debug precision leaves unmarked surely runs in FP16 (--fp16 alone only allows FP16: on a
# network this small the builder may keep FP32 and hide the overflow)
FP16_LAYERS=(Scale:float16 Square:float16 ReduceSum:float16 Sqrt:float16 Div:float16)  # layer = ONNX node name
run result-golden-norm.log polygraphy run model-norm.onnx --onnxrt --save-inputs norm-inputs.json \
    --save-outputs norm-golden.json
run result-debug-precision.log polygraphy debug precision model-norm.onnx --fp16 -p float32 --mode bisect \
    --dir forward --layer-precisions "${FP16_LAYERS[@]}" \
    --check polygraphy run polygraphy_debug.engine --trt --load-inputs norm-inputs.json --load-outputs norm-golden.json \
    --atol 1e-5 --rtol 1e-2
grep -E "Finished|To achieve" result-debug-precision.log | cut -c 1-150 || true

echo "=== main.py: parse the logs and files; build model-norm.onnx in FP16 with the layers debug precision named in FP32"
python3 main.py
