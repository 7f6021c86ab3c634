#!/bin/bash
# Run from anywhere: bash 02-API/Layer/ScaleLayer/command.sh
set -euo pipefail
cd "$(dirname "$0")"

for s in SimpleExample.py ScaleMode.py ShiftScalePower.py ChannelAxis.py AddScaleNd.py; do
    echo "=== $s"
    python3 "$s"
done
