#!/bin/bash
# Run from anywhere: bash 02-API/Layer/ILayer/command.sh
set -euo pipefail
cd "$(dirname "$0")"
for s in main.py Precision.py PrecisionINT8.py; do
    echo "=== $s"
    python3 "$s"
done
