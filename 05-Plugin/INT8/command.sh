#!/bin/bash
# requires: nvcc make trt_root
# Run from anywhere: bash 05-Plugin/INT8/command.sh   (TRT_ROOT=/path/to/TensorRT-8.6 if not /opt/trt-8.6.0)
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.cache

echo "=== make: AddScalarINT8Plugin.so (FP32 and INT8)"
make

echo "=== main.py: the plugin in INT8 networks: PTQ calibration, explicit dynamic ranges, Q/DQ"
python3 main.py
