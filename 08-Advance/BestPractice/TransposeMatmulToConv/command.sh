#!/bin/bash
# Run from anywhere: bash 08-Advance/BestPractice/TransposeMatmulToConv/command.sh
set -euo pipefail
cd "$(dirname "$0")"

echo "=== main.py: transpose + MatMul + transpose, MatMul on a reshaped view, 1x1 convolution: checked and timed"
python3 main.py
