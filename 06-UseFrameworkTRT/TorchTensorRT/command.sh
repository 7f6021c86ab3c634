#!/bin/bash
# requires: python:torch_tensorrt python:torch python:sklearn
# if missing: no torch-tensorrt build exists for TensorRT 8.6.0 + torch 2.11 + Python 3.12 (the GPU machine)
# Run from anywhere: bash 06-UseFrameworkTRT/TorchTensorRT/command.sh
# Written for nvcr.io/nvidia/pytorch:23.06-py3 (torch-tensorrt 1.x); not run for this cookbook: no torch-tensorrt
# build exists for its GPU machine's TensorRT 8.6.0 + torch 2.11 + Python 3.12, so the test skips there.
# digits_cnn.npz and digits.py are chapter 03's files (03-BuildEngineByTensorRTAPI/DigitsCNN), copied unchanged.
set -euo pipefail
cd "$(dirname "$0")"

echo "=== main.py: torch_tensorrt.compile of the trained CNN, FP32 and FP16, against torch"
python3 main.py
