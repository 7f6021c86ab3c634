#!/bin/bash
# Run from anywhere: bash 08-Advance/EmptyTensor/command.sh
set -euo pipefail
cd "$(dirname "$0")"

echo "=== main.py: a [3,0,5] input through Reduce, Concatenation, MatrixMultiply and Activation"
python3 main.py
