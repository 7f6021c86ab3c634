#!/bin/bash
# requires: nvcc make trt_root
# Run from anywhere: bash 05-Plugin/WeightsAndAttributes/command.sh
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.plan

echo "=== make: ChannelAffineClipPlugin.so"
make
echo "=== main.py: weights.npz -> PluginFields -> main.plan; the plan loaded in fresh processes with / without the .so"
python3 main.py
