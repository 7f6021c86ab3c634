#!/bin/bash
# Run from anywhere: bash 08-Advance/HardwareCompatibility/command.sh
set -euo pipefail
cd "$(dirname "$0")"

echo "=== main.py: hardware_compatibility_level NONE vs AMPERE_PLUS, checked and measured"
python3 main.py
