#!/bin/bash
# Run from anywhere: bash 05-Plugin/BuiltinPlugins/command.sh
# No nvcc: the plugins come with TensorRT (libnvinfer_plugin.so, loaded by trt.init_libnvinfer_plugins).
set -euo pipefail
cd "$(dirname "$0")"

echo "=== main.py: the registry after init_libnvinfer_plugins, the fields of EfficientNMS_TRT, EfficientNMS_TRT run"
python3 main.py
