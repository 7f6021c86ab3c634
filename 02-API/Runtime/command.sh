#!/bin/bash
# Run from anywhere: bash 02-API/Runtime/command.sh
set -euo pipefail
cd "$(dirname "$0")"
rm -f model.plan model-version-compatible.plan

python3 main.py
