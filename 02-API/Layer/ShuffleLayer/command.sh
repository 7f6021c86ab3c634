#!/bin/bash
# Run from anywhere: bash 02-API/Layer/ShuffleLayer/command.sh
set -euo pipefail
cd "$(dirname "$0")"

for s in SimpleExample.py FirstTranspose.py ReshapeDims.py SecondTranspose.py ZeroIsPlaceholder.py DynamicReshape.py; do
    echo "=== $s"
    python3 "$s"
done
