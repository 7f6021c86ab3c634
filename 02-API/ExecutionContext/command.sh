#!/bin/bash
# Run from anywhere: bash 02-API/ExecutionContext/command.sh
set -euo pipefail
cd "$(dirname "$0")"
for s in main.py Profiler.py OptimizationProfileSwitch.py DeviceMemory.py; do
    echo "=== $s"
    python3 "$s"
done
