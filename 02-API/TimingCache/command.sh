#!/bin/bash
# Run from anywhere: bash 02-API/TimingCache/command.sh
set -euo pipefail
cd "$(dirname "$0")"
rm -f model.cache

python3 main.py
