#!/bin/bash
# requires: python:onnx python:onnxruntime
# Run from anywhere: bash 08-Advance/ProblemSolving/OpsetTooNew/command.sh
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.onnx  # main.py writes reduce_mean_opset18.onnx, reduce_mean_opset17.onnx, reduce_mean_converted17.onnx

echo "=== main.py: a ReduceMean at opset 18 (axes as an input) through the 8.6 parser, then the fix at opset 17"
python3 main.py
