#!/bin/bash
# Run from anywhere: bash 08-Advance/Sparsity/command.sh
set -euo pipefail
cd "$(dirname "$0")"

echo "=== main.py: a 2:4-pruned 1x1 convolution, dense vs SPARSE_WEIGHTS, checked and timed"
python3 main.py
