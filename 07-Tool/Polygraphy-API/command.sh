#!/bin/bash
# requires: polygraphy python:torch python:onnxruntime
# Run from anywhere: bash 07-Tool/Polygraphy-API/command.sh
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.onnx ./*.plan

echo "=== get_model.py: model.onnx (small CNN, input x [batch,1,28,28])"
python3 get_model.py

echo "=== main.py: Polygraphy's loaders, runners and Comparator in Python (what polygraphy run does)"
python3 main.py
