#!/bin/bash
# Run from anywhere: bash 02-API/GPUAllocator/command.sh
set -euo pipefail
cd "$(dirname "$0")"

echo "=== IGpuAllocator: every GPU allocation of the builder and the runtime"
python3 main.py
echo "=== IOutputAllocator: an output whose shape depends on the data (NonZero)"
python3 OutputAllocator.py
