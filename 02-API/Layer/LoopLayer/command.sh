#!/bin/bash
set -euo pipefail
cd "$(dirname "$0")"
for s in SimpleExample.py TripLimit.py RunTimeTripCount.py WhilePitfall.py Iterator.py LoopOutput.py ReLURNN.py; do
    echo "=== $s"
    python3 "$s"
done
