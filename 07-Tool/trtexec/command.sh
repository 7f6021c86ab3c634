#!/bin/bash
# requires: trtexec nvcc make trt_root python:torch python:onnxruntime
# timeout: 400
# Run from anywhere: bash 07-Tool/trtexec/command.sh
# Every trtexec invocation writes its whole log to result-*.log; run() stops at the first non-zero exit code
# (printing the log's tail), and main.py then parses facts from the logs and the JSON files and checks the plans.
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.onnx ./*.plan ./*.cache ./*.json ./result-*.log AddScalarPlugin.so

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

echo "=== get_model.py: model.onnx (small CNN, input x [batch,1,28,28], batch 1..16) and addScalar.onnx (a plugin node)"
python3 get_model.py

SHAPES="--minShapes=x:1x1x28x28 --optShapes=x:4x1x28x28 --maxShapes=x:16x1x28x28"  # the optimization profile
RUN="--shapes=x:4x1x28x28 --warmUp=200 --duration=1 --iterations=100"               # inference: shape, how long

echo "=== 01 build an FP32 engine (TF32 off), save it, write the timing cache and the engine's layer information"
run result-FP32.log trtexec --onnx=model.onnx $SHAPES --memPoolSize=workspace:1024 --noTF32 \
    --timingCacheFile=model.cache --saveEngine=model-FP32.plan --profilingVerbosity=detailed \
    --exportLayerInfo=layerInfo.json $RUN --verbose

echo "=== 02 build an FP16 engine, reusing (and extending) the timing cache"
run result-FP16.log trtexec --onnx=model.onnx $SHAPES --fp16 --timingCacheFile=model.cache \
    --saveEngine=model-FP16.plan --profilingVerbosity=detailed --exportLayerInfo=layerInfo-FP16.json $RUN

echo "=== 03 build an INT8 engine without calibration data (trtexec calibrates on one random batch: fast, not accurate)"
run result-INT8.log trtexec --onnx=model.onnx $SHAPES --int8 --saveEngine=model-INT8.plan --skipInference

echo "=== 04 load the FP32 plan and measure it (the performance summary: throughput, latency, enqueue time, H2D/GPU/D2H)"
run result-load-FP32.log trtexec --loadEngine=model-FP32.plan $RUN
grep -A 12 "=== Performance summary ===" result-load-FP32.log | cut -c 1-160 || true

echo "=== 05 per-layer profile in a separate run: --dumpProfile --exportProfile --exportTimes --separateProfileRun"
run result-profile.log trtexec --loadEngine=model-FP32.plan $RUN --dumpProfile --separateProfileRun \
    --exportProfile=profile.json --exportTimes=times.json

echo "=== 06 CUDA graph, no host<->device copies: what the GPU alone can do"
run result-cudaGraph.log trtexec --loadEngine=model-FP32.plan $RUN --useCudaGraph --noDataTransfers

echo "=== 07 a plugin library: make AddScalarPlugin.so, then trtexec --plugins loads it before parsing addScalar.onnx"
make
run result-plugin.log trtexec --onnx=addScalar.onnx --plugins=./AddScalarPlugin.so \
    --minShapes=x:1x4 --optShapes=x:4x4 --maxShapes=x:16x4 --shapes=x:4x4 --saveEngine=addScalar.plan

echo "=== main.py: parse the logs and JSON files, load the plans in Python, compare with onnxruntime / numpy"
python3 main.py
