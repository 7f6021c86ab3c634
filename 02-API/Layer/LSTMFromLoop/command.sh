#!/bin/bash
# requires: python:torch
set -euo pipefail
cd "$(dirname "$0")"
for s in SimpleExample.py Bidirectional.py DynamicLength.py; do
    echo "=== $s"
    python3 "$s"
done
