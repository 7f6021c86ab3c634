#!/bin/bash
# Run from anywhere: bash 08-Advance/BestPractice/ComputeConstantsInAdvance/command.sh
set -euo pipefail
cd "$(dirname "$0")"

echo "=== main.py: a position table computed in the network vs computed ahead in numpy: checked and timed"
python3 main.py
