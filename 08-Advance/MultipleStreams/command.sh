#!/bin/bash
# keep: timeline.png
# Run from anywhere: bash 08-Advance/MultipleStreams/command.sh
set -euo pipefail
cd "$(dirname "$0")"

echo "=== main.py: one stream vs two streams, pageable vs pinned host memory; timeline.png"
python3 main.py
