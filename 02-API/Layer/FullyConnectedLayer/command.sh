#!/bin/bash
set -euo pipefail
cd "$(dirname "$0")"
for s in SimpleExample.py NumOutputChannels.py Kernel.py Bias.py MatrixMultiplyReplacement.py INT8QDQ.py; do
    echo "=== $s"
    python3 "$s"
done
