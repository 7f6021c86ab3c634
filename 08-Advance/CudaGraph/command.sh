#!/bin/bash
# Run from anywhere: bash 08-Advance/CudaGraph/command.sh
set -euo pipefail
cd "$(dirname "$0")"

echo "=== main.py: execute_async_v3 vs a captured CUDA graph, batch 4 then 32 (captured again)"
python3 main.py
