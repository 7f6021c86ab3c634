#!/bin/bash
# Run from anywhere: bash 08-Advance/BestPractice/ReduceAxes/command.sh
set -euo pipefail
cd "$(dirname "$0")"

echo "=== main.py: a sum over the middle axis, over the last axis after a transpose, over the last axis: checked and timed"
python3 main.py
