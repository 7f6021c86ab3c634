#!/bin/bash
# requires: python:torch
# timeout: 900
# Run from anywhere: bash 03-BuildEngineByTensorRTAPI/TorchModules/command.sh
set -euo pipefail
cd "$(dirname "$0")"

for s in Conv2dBatchNorm.py Linear.py Pooling.py Activations.py Flatten.py LayerNorm.py Embedding.py GRU.py \
         MultiheadAttention.py Residual.py Upsample.py; do
    echo "=== $s"
    python3 "$s"
done
