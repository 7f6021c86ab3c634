#!/bin/bash
set -euo pipefail
cd "$(dirname "$0")"
for s in SimpleExample.py ResizeMode.py CoordinateTransformation.py NearestRounding.py SelectorForSinglePixel.py \
         CubicCoeff.py ExcludeOutside.py Scales.py DynamicShape.py; do
    echo "=== $s"
    python3 "$s"
done
