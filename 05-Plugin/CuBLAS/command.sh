#!/bin/bash
# requires: nvcc make trt_root
# Run from anywhere: bash 05-Plugin/CuBLAS/command.sh
set -euo pipefail
cd "$(dirname "$0")"

echo "=== make: CuBLASGemmPlugin.so (links the libcublas.so.12 in TRT_ROOT/lib when there is one, see the Makefile)"
make
echo "=== main.py: y = x · W + b through cuBLAS, with TensorRT's handle and with the plugin's own"
python3 main.py
