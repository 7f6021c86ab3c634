#!/bin/bash
# requires: polygraphy python:torch python:onnxruntime python:onnx_graphsurgeon
# Run from anywhere: bash 07-Tool/Polygraphy-CLI/Template/command.sh
# `polygraphy template` writes Python scripts to fill in: an onnx-graphsurgeon edit of a model, a TensorRT network
# built from it, a builder configuration; Polygraphy's tools take the last two as --model-type trt-network-script and
# --trt-config-script.
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.onnx ./*.plan ./*.json ./result-*.log my_network.py my_graph.py my_config.py

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

echo "=== 01 write the three templates"
run result-template-onnx-gs.log polygraphy template onnx-gs model.onnx -o my_graph.py
run result-template-trt-network.log polygraphy template trt-network model.onnx -o my_network.py
run result-template-trt-config.log polygraphy template trt-config -o my_config.py

echo "=== 02 fill them in (fill_templates.py replaces each TODO line), run the graph edit: model_updated.onnx"
python3 fill_templates.py
run result-my-graph.log python3 my_graph.py

echo "=== 03 onnxruntime on model_updated.onnx (outputs y and the second ReLU's output), saving inputs and outputs"
run result-onnxrt.log polygraphy run model_updated.onnx --onnxrt --input-shapes "x:[4,1,28,28]" \
    --save-inputs inputs.json --save-outputs outputs-onnxrt.json

echo "=== 04 TensorRT from the network script and the config script, compared with the outputs of 03"
# --trt-config-script replaces every other config option (--trt-min-shapes, --fp16, ...): the profile is in my_config.py
run result-trt.log polygraphy run my_network.py --model-type trt-network-script --trt-config-script my_config.py \
    --trt --input-shapes "x:[4,1,28,28]" --load-inputs inputs.json --load-outputs outputs-onnxrt.json \
    --atol 1e-4 --rtol 1e-4 --save-engine template.plan
grep -E "Comparing Output|PASSED|FAILED" result-trt.log | cut -c 1-150 || true

echo "=== main.py: check the scripts and the comparison, run template.plan in Python against onnxruntime"
python3 main.py
