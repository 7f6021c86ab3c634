#!/bin/bash
# requires: python:torch python:sklearn nvcc make trt_root
# timeout: 1200
# Run from anywhere: bash 04-BuildEngineByONNXParser/DigitsCNN/command.sh
# digits_cnn.npz and digits.py are chapter 03's files (03-BuildEngineByTensorRTAPI/DigitsCNN), copied unchanged.
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.cache ./*.onnx  # main.py exports the ONNX file; the first INT8 build of each program calibrates

echo "=== main.py: torch -> ONNX -> trt.OnnxParser -> FP32 / FP16 / INT8 engines (calibrate, then from the cache)"
python3 main.py

echo "=== digits.py digits_data.npz, make, ./main.exe: main.cpp parses the same ONNX file with the C++ parser (it"
echo "    reads the images from digits_data.npz: C++ cannot call scikit-learn)"
python3 digits.py digits_data.npz
make
./main.exe
