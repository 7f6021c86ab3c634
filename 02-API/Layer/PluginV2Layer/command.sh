#!/bin/bash
set -euo pipefail
cd "$(dirname "$0")"
echo "=== SimpleExample.py"
python3 SimpleExample.py
