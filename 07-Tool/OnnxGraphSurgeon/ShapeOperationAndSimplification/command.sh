#!/bin/bash
# requires: python:onnx python:onnx_graphsurgeon python:onnxruntime
# Run from anywhere: bash 07-Tool/OnnxGraphSurgeon/ShapeOperationAndSimplification/command.sh
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.onnx  # main.py writes its models here

echo "=== main.py: Shape/Gather/Mul/Concat for a dynamic Reshape; folded away for a static shape"
python3 main.py
