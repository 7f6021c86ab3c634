#!/bin/bash
# Run from anywhere: bash 08-Advance/BestPractice/IncreaseBatchSize/command.sh
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.png

echo "=== main.py: latency and throughput over batch sizes 1 .. 1024 (table, and a plot when matplotlib is installed)"
python3 main.py
