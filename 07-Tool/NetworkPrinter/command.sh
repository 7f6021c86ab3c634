#!/bin/bash
# requires: python:onnx
# Run from anywhere: bash 07-Tool/NetworkPrinter/command.sh
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.onnx  # main.py writes model.onnx

echo "=== main.py: every layer of the network the ONNX parser built, with its own parameters and tensors"
python3 main.py
