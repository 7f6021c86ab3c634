#!/bin/bash
# timeout: 600
# Run from anywhere: bash 02-API/BuilderConfig/command.sh
set -euo pipefail
cd "$(dirname "$0")"
for script in main.py Flags.py FP16.py INT8.py PrecisionConstraints.py SparseWeights.py BuilderOptimizationLevel.py; do
    echo "=================== $script"
    python3 "$script"
done
