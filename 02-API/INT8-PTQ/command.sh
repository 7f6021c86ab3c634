#!/bin/bash
# requires: make nvcc trt_root
# timeout: 900
# Run from anywhere: bash 02-API/INT8-PTQ/command.sh
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.cache  # start without calibration caches: the first build of each calibrator calibrates

echo "=== Python: IInt8EntropyCalibrator2, calibrate + write the cache, then build again from the cache"
python3 main.py
echo "=== Python: an FP32 engine (the control), IInt8MinMaxCalibrator and IInt8LegacyCalibrator"
python3 Calibrators.py

echo "=== C++: main.py with the C++ API, on the same network and data"
make
./main.exe
