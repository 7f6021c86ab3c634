#!/bin/bash
# requires: python:onnx python:onnx_graphsurgeon python:onnxruntime
# Run from anywhere: bash 07-Tool/OnnxGraphSurgeon/AdvancedAPI/command.sh
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.onnx  # main.py writes its models here

echo "=== main.py: tensor/node attributes, copy, toposort, cleanup, If and Loop subgraphs"
python3 main.py
