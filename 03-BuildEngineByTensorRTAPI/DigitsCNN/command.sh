#!/bin/bash
# requires: python:torch python:sklearn nvcc make trt_root
# timeout: 1200
# Run from anywhere: bash 03-BuildEngineByTensorRTAPI/DigitsCNN/command.sh
# The weights digits_cnn.npz are committed: this does not train (python3 train.py retrains them, in seconds).
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.cache  # start without calibration caches: the first INT8 build of each program calibrates

echo "=== main.py: the CNN rebuilt with the TensorRT API, FP32 / FP16 / INT8 (calibrate, then from the cache)"
python3 main.py

echo "=== digits.py digits_data.npz, make, ./main.exe: main.cpp, the same with the C++ API (it reads the images"
echo "    from digits_data.npz: C++ cannot call scikit-learn)"
python3 digits.py digits_data.npz
make
./main.exe
