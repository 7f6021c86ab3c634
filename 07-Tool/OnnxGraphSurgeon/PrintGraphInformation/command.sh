#!/bin/bash
# requires: python:onnx python:onnx_graphsurgeon python:onnxruntime
# Run from anywhere: bash 07-Tool/OnnxGraphSurgeon/PrintGraphInformation/command.sh
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.onnx  # main.py writes its models here

echo "=== main.py: nodes, tensors, producers and consumers of a small graph"
python3 main.py
