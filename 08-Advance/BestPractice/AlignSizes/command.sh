#!/bin/bash
# Run from anywhere: bash 08-Advance/BestPractice/AlignSizes/command.sh
set -euo pipefail
cd "$(dirname "$0")"

echo "=== main.py: FP16 MatMul and convolution sizes that are or are not multiples of 8 / 64: checked and timed"
python3 main.py
