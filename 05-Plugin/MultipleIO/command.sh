#!/bin/bash
# requires: nvcc make trt_root
# Run from anywhere: bash 05-Plugin/MultipleIO/command.sh   (TRT_ROOT=/path/to/TensorRT-8.6 if not /opt/trt-8.6.0)
set -euo pipefail
cd "$(dirname "$0")"

echo "=== make: MultipleIOPlugin.so (two inputs, two outputs, a workspace)"
make

echo "=== main.py: one engine with dynamic shapes, run at two shapes"
python3 main.py
