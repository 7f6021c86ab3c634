#!/bin/bash
# Run from anywhere: bash 08-Advance/ProblemSolving/MissingPlugin/command.sh
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.plan

echo "=== main.py: a plan with a built-in plugin, loaded before and after init_libnvinfer_plugins (build_plan.py runs in a subprocess)"
python3 main.py
