#!/bin/bash
# Run from anywhere: bash 02-API/BindingAPI/command.sh
set -euo pipefail
cd "$(dirname "$0")"
python3 main.py
