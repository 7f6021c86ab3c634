#!/bin/bash
# requires: nvcc make trt_root
# Run from anywhere: bash 05-Plugin/CallSequence/command.sh   (TRT_ROOT=/path/to/TensorRT-8.6 if not /opt/trt-8.6.0)
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.log

echo "=== make: CallSequencePlugin.so (AddScalar with every method logging its call)"
make

echo "=== main.py: the plugin's life phase by phase; the calls grouped by phase; the documented facts checked"
python3 main.py
