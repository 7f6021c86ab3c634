#!/bin/bash
# requires: nvcc make trt_root
# Run from anywhere: bash 05-Plugin/FP16/command.sh   (TRT_ROOT=/path/to/TensorRT-8.6 if not /opt/trt-8.6.0)
set -euo pipefail
cd "$(dirname "$0")"

echo "=== make: AddScalarFP16Plugin.so (FP32 linear, FP16 linear, FP16 kHWC8)"
make

echo "=== main.py: four builds (FP32, FP16 allowed, FP16 I/O, FP16 forced); the inspector shows what the plugin got"
python3 main.py
