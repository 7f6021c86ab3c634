#!/bin/bash
# requires: python:torch python:onnx python:onnxruntime
# Run from anywhere: bash 07-Tool/OnnxRuntime/command.sh
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.onnx  # main.py exports classifier.onnx

echo "=== main.py: onnxruntime's providers, model metadata, dynamic batch; TensorRT compared with onnxruntime"
python3 main.py
