#!/bin/bash
set -euo pipefail
cd "$(dirname "$0")"
for s in SimpleExample.py WindowSize.py Alpha.py Beta.py K.py; do
    echo "=== $s"
    python3 "$s"
done
