#!/bin/bash
# requires: python:onnx python:onnxruntime python:onnx_graphsurgeon
# Run from anywhere: bash 04-BuildEngineByONNXParser/ParserErrors/command.sh
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.onnx  # main.py writes hardmax.onnx and hardmax_repaired.onnx

echo "=== main.py: a model the parser refuses (Hardmax), its errors, the repair with onnx-graphsurgeon"
python3 main.py
