#!/bin/bash
# requires: nvcc make trt_root
# Run from anywhere: bash 05-Plugin/AddScalar/command.sh   (TRT_ROOT=/path/to/TensorRT-8.6 if not /opt/trt-8.6.0)
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.plan

echo "=== make: AddScalarPlugin.so (the plugin) and main.exe (the C++ program)"
make

echo "=== main.py: load AddScalarPlugin.so with ctypes, add the plugin with add_plugin_v2, build, run, serialize, reload"
python3 main.py

echo "=== ./main.exe: the same with the C++ API (dlopen, getPluginRegistry, addPluginV2)"
./main.exe
