#!/bin/bash
# Run from anywhere: bash 07-Tool/FP16FineTuning/command.sh
set -euo pipefail
cd "$(dirname "$0")"

echo "=== main.py: find the layers whose FP16 output is wrong (every tensor an output, FP32 vs FP16), pin them to FP32"
python3 main.py
