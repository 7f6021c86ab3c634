#!/bin/bash
# Run from anywhere: bash 02-API/Layer/ReverseSequenceLayer/command.sh
set -euo pipefail
cd "$(dirname "$0")"

for s in SimpleExample.py BatchAxisSequenceAxis.py SequenceLens.py; do
    echo "=== $s"
    python3 "$s"
done
