#!/bin/bash
# requires: python:onnx python:onnx_graphsurgeon python:onnxruntime
# Run from anywhere: bash 07-Tool/OnnxGraphSurgeon/RemoveNode/command.sh
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.onnx  # main.py writes its models here

echo "=== main.py: remove the node FakeNodeToRemove that no runtime knows"
python3 main.py
