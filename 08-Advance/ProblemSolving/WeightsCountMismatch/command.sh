#!/bin/bash
# Run from anywhere: bash 08-Advance/ProblemSolving/WeightsCountMismatch/command.sh
set -euo pipefail
cd "$(dirname "$0")"

echo "=== main.py: a convolution given 216 kernel values where it expects 108: the error, then the fix"
python3 main.py
