#!/bin/bash
# Run from anywhere: bash 08-Advance/ProblemSolving/IncompatiblePlan/command.sh
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.plan

echo "=== main.py: plans with a damaged header (magic tag, header word) refused, the unchanged plan runs"
python3 main.py
