#!/bin/bash
# requires: polygraphy python:torch python:onnx python:onnxruntime python:onnx_graphsurgeon
# Run from anywhere: bash 08-Advance/BestPractice/OnnxWorkflow/command.sh
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.onnx

echo "=== main.py: export, check, simplify (polygraphy, onnx-graphsurgeon), parse, build, compare with onnxruntime, time, profile"
python3 main.py
