#!/bin/bash
# requires: python:onnx python:onnx_graphsurgeon python:onnxruntime
# Run from anywhere: bash 07-Tool/OnnxGraphSurgeon/FoldConstants/command.sh
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.onnx  # main.py writes its models here

echo "=== main.py: fold_constants() + cleanup(): Transpose, Mul and Sqrt of constants become constants"
python3 main.py
