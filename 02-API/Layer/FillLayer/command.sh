#!/bin/bash
set -euo pipefail
cd "$(dirname "$0")"
for s in SimpleExample.py RandomUniform.py RandomNormal.py RunTimeStartDelta.py DynamicLinspace.py DynamicRandom.py; do
    echo "=== $s"
    python3 "$s"
done
