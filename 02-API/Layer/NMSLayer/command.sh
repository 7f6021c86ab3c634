#!/bin/bash
set -euo pipefail
cd "$(dirname "$0")"
for s in SimpleExample.py BoundingBoxFormat.py IoUThreshold.py ScoreThreshold.py MaxOutputBoxesPerClass.py TopKBoxLimit.py; do
    echo "=== $s"
    python3 "$s"
done
