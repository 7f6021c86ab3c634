#!/bin/bash
# Run from anywhere: bash 02-API/Tensor/command.sh
set -euo pipefail
cd "$(dirname "$0")"
for s in main.py ShapeTensor.py DimensionName.py; do
    echo "=== $s"
    python3 "$s"
done
