#!/bin/bash
# Run from anywhere: bash 08-Advance/ProblemSolving/IncompatiblePlan/command.sh
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.plan

echo "=== main.py: plans with a patched header (magic tag, version tag) refused, the unchanged plan runs"
python3 main.py
