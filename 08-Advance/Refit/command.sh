#!/bin/bash
# requires: python:onnx
# Run from anywhere: bash 08-Advance/Refit/command.sh
set -euo pipefail
cd "$(dirname "$0")"

echo "=== main.py: refit an engine from a newer ONNX model's initializers; refit vs rebuild time"
python3 main.py
