#!/bin/bash
set -euo pipefail
cd "$(dirname "$0")"
for s in SimpleExample.py PrePostPadding.py NegativePadding.py SliceReplacement.py; do
    echo "=== $s"
    python3 "$s"
done
