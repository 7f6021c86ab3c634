#!/bin/bash
# Run from anywhere: bash 02-API/Layer/ScatterLayer/command.sh
set -euo pipefail
cd "$(dirname "$0")"

for s in SimpleExample.py Axis.py Mode.py; do
    echo "=== $s"
    python3 "$s"
done
