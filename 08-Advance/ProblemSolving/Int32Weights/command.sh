#!/bin/bash
# Run from anywhere: bash 08-Advance/ProblemSolving/Int32Weights/command.sh
set -euo pipefail
cd "$(dirname "$0")"

echo "=== main.py: a convolution given INT32 kernel, then INT32 bias weights: the errors, then the fix (float32)"
python3 main.py
