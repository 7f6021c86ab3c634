#!/bin/bash
set -euo pipefail
cd "$(dirname "$0")"
for s in SimpleExample.py DataType.py Shape.py DataTypeBool.py DataTypeInt8.py; do
    echo "=== $s"
    python3 "$s"
done
