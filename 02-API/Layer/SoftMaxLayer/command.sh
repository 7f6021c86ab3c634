#!/bin/bash
# Run from anywhere: bash 02-API/Layer/SoftMaxLayer/command.sh
set -euo pipefail
cd "$(dirname "$0")"

for s in SimpleExample.py Axes.py; do
    echo "=== $s"
    python3 "$s"
done
