#!/bin/bash
# Run from anywhere: bash 02-API/Layer/UnaryLayer/command.sh
set -euo pipefail
cd "$(dirname "$0")"

for s in SimpleExample.py UnaryOperation.py; do
    echo "=== $s"
    python3 "$s"
done
