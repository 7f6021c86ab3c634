#!/bin/bash
# Run from anywhere: bash 02-API/Network/command.sh
set -euo pipefail
cd "$(dirname "$0")"
echo "=== main.py: members of INetworkDefinition"
python3 main.py
