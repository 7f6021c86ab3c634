#!/bin/bash
# Run from anywhere: bash 08-Advance/MultipleContexts/command.sh
set -euo pipefail
cd "$(dirname "$0")"

echo "=== main.py: one engine, four threads, four contexts and streams (PROFILE_SHARING_0806)"
python3 main.py
