#!/bin/bash
# Run from anywhere: bash 08-Advance/DataFormat/command.sh
set -euo pipefail
cd "$(dirname "$0")"

echo "=== main.py: an FP16 HWC8 input and an INT8 CHW32 output, packed and unpacked in numpy"
python3 main.py
