#!/bin/bash
# requires: nvcc make trt_root python:torch python:onnx python:onnx_graphsurgeon
# Run from anywhere: bash 05-Plugin/ONNXParserPlugin/command.sh
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.onnx  # main.py exports them

echo "=== make: LayerNormPlugin.so (CookbookLayerNorm)"
make
echo "=== main.py: torch -> ONNX -> graphsurgeon -> parser + plugin; accuracy against torch; latency table"
python3 main.py
