#!/bin/bash
# requires: python:torch python:sklearn
# timeout: 900
# Run from anywhere: bash 04-BuildEngineByONNXParser/QAT/command.sh
# qat_weights.npz is committed: this does not fine-tune (python3 qat_train.py does it again, in seconds, on the CPU).
# digits_cnn.npz and digits.py are chapter 03's files (03-BuildEngineByTensorRTAPI/DigitsCNN), copied unchanged.
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.onnx  # main.py exports both ONNX files

echo "=== main.py: the QAT model's Q/DQ nodes -> BuilderFlag.INT8 without a calibrator; PTQ with a calibrator as control"
python3 main.py
