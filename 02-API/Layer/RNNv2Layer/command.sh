#!/bin/bash
# Run from anywhere: bash 02-API/Layer/RNNv2Layer/command.sh
set -euo pipefail
cd "$(dirname "$0")"

for s in SimpleExample.py Op.py Direction.py InputMode.py NumLayers.py SeqLengths.py HiddenState.py CellState.py GateWeights.py; do
    echo "=== $s"
    python3 "$s"
done
