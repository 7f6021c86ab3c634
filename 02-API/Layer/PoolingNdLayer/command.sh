#!/bin/bash
set -euo pipefail
cd "$(dirname "$0")"
for s in SimpleExample.py PoolingType.py BlendFactor.py WindowSize.py Stride.py Padding.py PaddingMode.py \
         AverageCountExcludesPadding.py Pooling3D.py; do
    echo "=== $s"
    python3 "$s"
done
