#!/bin/bash
# requires: nvcc make trt_root
# Run from anywhere: bash 05-Plugin/LinkVsLoad/command.sh   (TRT_ROOT=/path/to/TensorRT-8.6 if not /opt/trt-8.6.0)
set -euo pipefail
cd "$(dirname "$0")"
rm -rf ./main.*.output

echo "=== make: ScaledTanhPlugin.so, ScaledTanhPluginLibrary.so, main_linked.exe, main.exe"
make
echo "=== main.py: the Python side (ctypes.CDLL) and the reference"
python3 main.py
echo "=== ./main_linked.exe linked: the plugin compiled into the executable"
./main_linked.exe linked
echo "=== ./main.exe dlopen: the plugin library loaded at run time with dlopen"
./main.exe dlopen
echo "=== ./main.exe loadLibrary: the plugin library loaded by getPluginRegistry()->loadLibrary"
./main.exe loadLibrary
