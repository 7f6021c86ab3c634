#!/bin/bash
# requires: polygraphy python:onnx python:onnxruntime python:onnx_graphsurgeon
# Run from anywhere: bash 07-Tool/Polygraphy-CLI/Surgeon/command.sh
# `polygraphy surgeon` edits ONNX files (no TensorRT needed); main.py checks the edited models and runs them in TensorRT.
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.onnx ./result-*.log

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

echo "=== get_model.py: model.onnx (14 nodes, some of them constant)"
python3 get_model.py

echo "=== 01 sanitize: fold the constant subgraphs (W*2+1, the static part of the shape computation)"
run result-sanitize.log polygraphy surgeon sanitize model.onnx --fold-constants -o model-folded.onnx

echo "=== 02 extract: the subgraph between tensors hidden and relu_out (shapes and types by shape inference: auto)"
run result-extract.log polygraphy surgeon extract model.onnx --inputs hidden:auto:auto --outputs relu_out:auto \
    -o model-relu.onnx

echo "=== 03 insert: replace what lies between hidden and relu_out (the Relu) by a new node, LeakyRelu(alpha=0.125)"
run result-insert.log polygraphy surgeon insert model.onnx --inputs hidden --outputs relu_out --op LeakyRelu \
    --name LeakyRelu --attrs alpha=0.125 -o model-inserted.onnx

echo "=== main.py: count the nodes, check the subgraph and the new node, run the three models in TensorRT"
python3 main.py
