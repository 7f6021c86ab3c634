#!/bin/bash
# requires: python:onnx
# Run from anywhere: bash 02-API/ONNXParser/command.sh
set -euo pipefail
cd "$(dirname "$0")"
rm -f model.onnx

python3 main.py
