#!/bin/bash
# Run from anywhere: bash 08-Advance/VersionCompatibility/command.sh
set -euo pipefail
cd "$(dirname "$0")"

echo "=== main.py: version-compatible plans, engine_host_code_allowed, the lean runtime"
python3 main.py
