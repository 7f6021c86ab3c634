#!/bin/bash
# requires: polygraphy python:torch python:onnxruntime python:onnx_graphsurgeon
# Run from anywhere: bash 07-Tool/Polygraphy-CLI/Inspect/command.sh
# `polygraphy inspect`: what is in an ONNX model, an engine, a set of saved inputs/outputs, a tactic replay file,
# and which parts of an ONNX model TensorRT can take.
set -euo pipefail
cd "$(dirname "$0")"
rm -rf ./*.onnx ./*.plan ./*.json ./result-*.log capability

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

echo "=== get_model.py: model.onnx (small CNN) and model-unsupported.onnx (a node TensorRT cannot parse)"
python3 get_model.py

echo "=== 01 the ONNX model: inputs, outputs, initializers with their values, nodes with their attributes"
run result-inspect-onnx.log polygraphy inspect model model.onnx --show layers attrs weights
grep -E "ONNX Model|Input\(s\)|Output\(s\)|Initializer\(s\)|Node\(s\)" result-inspect-onnx.log || true

echo "=== 02 build and run an engine, saving the engine, its tactics, the inputs and the outputs"
# --profiling-verbosity layer_names_only: Polygraphy 0.53.6 builds with DETAILED unless told, and TensorRT 8.6.0 puts
# a raw control character into a DETAILED engine's inspector JSON for fused layers of an ONNX model (their joined
# metadata), which `inspect model` (03) parses strictly: seen on the GPU, see README
run result-build.log polygraphy run model.onnx --trt --trt-min-shapes "x:[1,1,28,28]" --trt-opt-shapes "x:[4,1,28,28]" \
    --trt-max-shapes "x:[16,1,28,28]" --input-shapes "x:[4,1,28,28]" \
    --profiling-verbosity layer_names_only \
    --save-engine model.plan --save-tactics tactics.json --save-inputs inputs.json --save-outputs outputs.json

echo "=== 03 the engine: I/O tensors, device memory, the optimization profile, the layers TensorRT kept"
run result-inspect-plan.log polygraphy inspect model model.plan --show layers attrs
grep -E "TensorRT Engine|Engine Input|Device Memory|Profile|Shapes:|Layer\(s\)" result-inspect-plan.log || true

echo "=== 04 can TensorRT take the whole model? (--with-partitioning: split it into supported / unsupported subgraphs)"
run result-capability.log polygraphy inspect capability --with-partitioning model.onnx
run result-capability-unsupported.log polygraphy inspect capability --with-partitioning model-unsupported.onnx \
    -o capability
ls capability

echo "=== 05 saved inputs and outputs: shapes, statistics, values"
run result-inspect-data.log polygraphy inspect data outputs.json --show-values

echo "=== 06 the tactic replay file: the algorithm TensorRT chose for each layer"
run result-inspect-tactics.log polygraphy inspect tactics tactics.json
head -n 6 result-inspect-tactics.log | cut -c 1-150

echo "=== main.py: parse the logs and files, run model.plan in Python against onnxruntime"
python3 main.py
