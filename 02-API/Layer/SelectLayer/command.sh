#!/bin/bash
# Run from anywhere: bash 02-API/Layer/SelectLayer/command.sh
set -euo pipefail
cd "$(dirname "$0")"

for s in SimpleExample.py Broadcasting.py; do
    echo "=== $s"
    python3 "$s"
done
