#!/bin/bash
# requires: nvcc make trt_root
# Run from anywhere: bash 05-Plugin/AddScalarIOExt/command.sh   (TRT_ROOT=/path/to/TensorRT-8.6 if not /opt/trt-8.6.0)
set -euo pipefail
cd "$(dirname "$0")"

echo "=== make: AddScalarIOExtPlugin.so"
make

echo "=== main.py: the IOExt plugin in an explicit-batch network, static shape (works) and dynamic shape (refused)"
python3 main.py
