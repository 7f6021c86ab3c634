#!/bin/bash
# requires: nvcc make trt_root
# Run from anywhere: bash 05-Plugin/PluginRepository/command.sh
set -euo pipefail
cd "$(dirname "$0")"

echo "=== make: PluginRepository.so (CumSum, MaskedFill, TopKAverage, BiasGelu)"
make
echo "=== main.py: one network using the four plugins, each output checked against numpy"
python3 main.py
