#!/bin/bash
set -euo pipefail
cd "$(dirname "$0")"
for s in SimpleExample.py NumOutputMaps.py KernelBias.py Stride.py Padding.py PrePostPadding.py PaddingMode.py Dilation.py NumGroups.py Deconv3D.py SetInput.py Int8QDQ.py; do
    echo "=== $s"
    python3 "$s"
done
