#!/bin/bash
# Run from anywhere: bash 08-Advance/ProblemSolving/SliceBool/command.sh
set -euo pipefail
cd "$(dirname "$0")"

echo "=== main.py: a BOOL mask sliced twice with dynamic shapes, then the INT32-cast workaround of older TensorRT 8.x"
python3 main.py
