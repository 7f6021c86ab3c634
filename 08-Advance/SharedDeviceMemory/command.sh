#!/bin/bash
# Run from anywhere: bash 08-Advance/SharedDeviceMemory/command.sh
set -euo pipefail
cd "$(dirname "$0")"

echo "=== main.py: two engines' contexts sharing one scratch buffer; GPU memory measured"
python3 main.py
