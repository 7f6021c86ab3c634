#!/bin/bash
# requires: polygraphy python:torch python:onnxruntime
# Run from anywhere: bash 07-Tool/Polygraphy-CLI/Run/command.sh
# `polygraphy run` builds a TensorRT engine and runs it next to onnxruntime on the same inputs, comparing the outputs.
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.onnx ./*.plan ./*.json ./result-*.log polygraphy_run.py

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

# the optimization profile (note the format: name:[dims], several tensors separated by spaces, unlike trtexec)
SHAPES=(--trt-min-shapes "x:[1,1,28,28]" --trt-opt-shapes "x:[4,1,28,28]" --trt-max-shapes "x:[16,1,28,28]"
        --input-shapes "x:[4,1,28,28]")

# --fp16 alone only allows FP16 kernels: seen on an H200, TensorRT 8.6.0 kept this small CNN in FP32 (outputs within
# 2e-7 of onnxruntime). --layer-precisions (TensorRT's layer names: the ONNX node names) with --precision-constraints
# prefer asks for FP16 convolutions.
FP16=(--fp16 --precision-constraints prefer --layer-precisions /body/body.0/Conv:float16 /body/body.3/Conv:float16)

echo "=== 01 FP16 engine against onnxruntime, outputs compared within atol = rtol = 1e-2"
run result-run-FP16.log polygraphy run model.onnx --trt --onnxrt "${FP16[@]}" "${SHAPES[@]}" \
    --pool-limit workspace:1G --atol 1e-2 --rtol 1e-2 --save-engine model-FP16.plan --save-inputs inputs.json \
    --save-outputs outputs-FP16.json --verbose
grep -E "Comparing Output|Error Metrics|Absolute Difference|PASSED|FAILED" result-run-FP16.log | cut -c 1-150 || true

echo "=== 02 FP32, every tensor marked as an output on both sides: a layer-by-layer comparison, same inputs as 01"
run result-run-markAll.log polygraphy run model.onnx --trt --onnxrt --trt-outputs mark all --onnx-outputs mark all \
    "${SHAPES[@]}" --atol 1e-4 --rtol 1e-4 --load-inputs inputs.json --save-outputs outputs-markAll.json
grep -E "Comparing Output|PASSED|FAILED" result-run-markAll.log | cut -c 1-150 || true

echo "=== 03 write the Python script that does what 01 does (Polygraphy's API), without running it"
run result-gen-script.log polygraphy run model.onnx --trt --onnxrt "${FP16[@]}" "${SHAPES[@]}" \
    --gen-script=polygraphy_run.py

echo "=== main.py: parse the logs and results, run model-FP16.plan in Python against onnxruntime"
python3 main.py
