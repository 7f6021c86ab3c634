#!/bin/bash
# Run from anywhere: bash 08-Advance/MultipleOptimizationProfiles/command.sh
set -euo pipefail
cd "$(dirname "$0")"

echo "=== main.py: one wide profile vs three narrow ones, checked and timed per batch"
python3 main.py
