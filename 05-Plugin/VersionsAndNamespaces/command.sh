#!/bin/bash
# requires: nvcc make trt_root
# Run from anywhere: bash 05-Plugin/VersionsAndNamespaces/command.sh
set -euo pipefail
cd "$(dirname "$0")"

echo "=== make: ActivationPlugin.so (Activation versions 1 and 2, namespace cookbook)"
make
echo "=== main.py: the creators by (name, version, namespace), a network using both versions"
python3 main.py
