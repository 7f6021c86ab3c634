#!/bin/bash
# requires: make nvcc trt_root
# Run from anywhere: bash 01-SimpleDemo/TensorRT8.6/command.sh
set -euo pipefail
cd "$(dirname "$0")"
rm -f model.plan model-cpp.plan

echo "=== Python, first run: builds the engine and saves model.plan"
python3 main.py
echo "=== Python, second run: loads model.plan"
python3 main.py
echo "=== Python, with a damaged model.plan: reports it and rebuilds"
printf 'this is not a TensorRT plan' > model.plan
python3 main.py

echo "=== C++: build, then run twice (build + save, then load)"
make
./main.exe
./main.exe
