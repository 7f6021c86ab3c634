#!/bin/bash
# Run from anywhere: bash 02-API/Builder/command.sh
set -euo pipefail
cd "$(dirname "$0")"
python3 main.py
