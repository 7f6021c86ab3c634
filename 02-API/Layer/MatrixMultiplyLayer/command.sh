#!/bin/bash
set -euo pipefail
cd "$(dirname "$0")"
for s in SimpleExample.py MatrixOperation.py Broadcast.py; do
    echo "=== $s"
    python3 "$s"
done
