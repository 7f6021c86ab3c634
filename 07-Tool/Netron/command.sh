#!/bin/bash
# requires: python:torch python:onnx python:onnxruntime
# Run from anywhere: bash 07-Tool/Netron/command.sh
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.onnx  # main.py exports model.onnx

echo "=== main.py: export model.onnx for Netron; onnx.checker, onnxruntime and TensorRT against numpy"
python3 main.py
echo "Open model.onnx in Netron: netron model.onnx (pip install netron), or drag it onto https://netron.app"
