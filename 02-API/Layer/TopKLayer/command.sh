#!/bin/bash
# Run from anywhere: bash 02-API/Layer/TopKLayer/command.sh
set -euo pipefail
cd "$(dirname "$0")"

for s in SimpleExample.py Op.py K.py Axes.py KFromTensor.py; do
    echo "=== $s"
    python3 "$s"
done
