#!/bin/bash
# requires: nvcc make trt_root
# Run from anywhere: bash 05-Plugin/IntBoolShapeInput/command.sh   (TRT_ROOT=/path/to/TensorRT-8.6 if not /opt/trt-8.6.0)
set -euo pipefail
cd "$(dirname "$0")"

echo "=== make: IntBoolPlugins.so (MaskedFill, ShapeEcho)"
make

echo "=== main.py: INT32 and BOOL tensors around a plugin; a shape tensor into a plugin, and a plugin output as a shape"
python3 main.py
