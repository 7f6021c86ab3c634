#!/bin/bash
# Run from anywhere: bash 02-API/OptimizationProfile/command.sh
set -euo pipefail
cd "$(dirname "$0")"
for s in main.py ShapeInput.py MultipleProfiles.py; do
    echo "=== $s"
    python3 "$s"
done
