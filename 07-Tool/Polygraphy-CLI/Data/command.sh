#!/bin/bash
# requires: polygraphy python:torch python:onnxruntime python:onnx_graphsurgeon
# Run from anywhere: bash 07-Tool/Polygraphy-CLI/Data/command.sh
# `polygraphy data merge` (called `data to-input` before Polygraphy 0.50) turns saved inputs and outputs into one
# input file: here, the intermediate tensors onnxruntime computed feed a subgraph cut out of the model.
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.onnx ./*.json ./result-*.log

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
POOLED=/body/body.5/MaxPool_output_0  # the second MaxPool's output (torch's name for it)

echo "=== get_model.py: model.onnx (small CNN) and x.json (its input, [4,1,28,28])"
python3 get_model.py

echo "=== 01 onnxruntime, every tensor marked as an output: save them all"
run result-onnxrt.log polygraphy run model.onnx --onnxrt --onnx-outputs mark all --load-inputs x.json \
    --save-outputs outputs.json

echo "=== 02 cut out the tail of the model: from $POOLED to y"
run result-extract.log polygraphy surgeon extract model.onnx --inputs "$POOLED:[4,16,7,7]:float32" --outputs y:auto \
    -o tail.onnx

echo "=== 03 merge the input file and the output file into one input file (x and every saved tensor)"
run result-merge.log polygraphy data merge x.json outputs.json -o tail-inputs.json

echo "=== 04 run the tail in TensorRT on onnxruntime's intermediate tensor, compare with onnxruntime's y"
run result-trt-tail.log polygraphy run tail.onnx --trt --load-inputs tail-inputs.json --load-outputs outputs.json \
    --atol 1e-4 --rtol 1e-4
grep -E "Comparing Output|PASSED|FAILED" result-trt-tail.log | cut -c 1-150 || true

echo "=== main.py: check the merged file, run tail.onnx in TensorRT from Python, compare with onnxruntime"
python3 main.py
