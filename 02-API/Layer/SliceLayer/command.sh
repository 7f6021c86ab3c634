#!/bin/bash
# Run from anywhere: bash 02-API/Layer/SliceLayer/command.sh
set -euo pipefail
cd "$(dirname "$0")"

for s in SimpleExample.py StartShapeStride.py SampleMode.py DynamicSlice.py SizeFromShape.py; do
    echo "=== $s"
    python3 "$s"
done
