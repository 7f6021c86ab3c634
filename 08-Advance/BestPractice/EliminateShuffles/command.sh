#!/bin/bash
# Run from anywhere: bash 08-Advance/BestPractice/EliminateShuffles/command.sh
set -euo pipefail
cd "$(dirname "$0")"

echo "=== main.py: pointwise work with cancelling shuffle chains, a layout round trip, and none: checked and timed"
python3 main.py
