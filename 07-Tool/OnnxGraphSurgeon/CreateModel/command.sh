#!/bin/bash
# requires: python:onnx python:onnx_graphsurgeon python:onnxruntime
# Run from anywhere: bash 07-Tool/OnnxGraphSurgeon/CreateModel/command.sh
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.onnx  # main.py writes its models here

echo "=== main.py: a Conv-Relu-GlobalLpPool model made from gs.Variable, gs.Constant, gs.Node, gs.Graph"
python3 main.py
