#!/bin/bash
# requires: make nvcc trt_root
# timeout: 600
# Run from anywhere: bash 02-API/INT8-PTQ/command.sh
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.cache  # start without calibration caches: the first build of each calibrator calibrates

echo "=== Python: FP32, then each calibrator twice (calibrate + write the cache, then read the cache)"
python3 main.py

echo "=== C++: IInt8EntropyCalibrator2 with a cache, the same network and data"
make
./main.exe
