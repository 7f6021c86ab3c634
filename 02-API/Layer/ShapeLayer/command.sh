#!/bin/bash
# Run from anywhere: bash 02-API/Layer/ShapeLayer/command.sh
set -euo pipefail
cd "$(dirname "$0")"

for s in SimpleExample.py DynamicShape.py; do
    echo "=== $s"
    python3 "$s"
done
