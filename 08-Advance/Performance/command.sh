#!/bin/bash
# requires: python:torch python:torchvision python:onnx
# timeout: 1200
# alone: yes
# keep: performance.md performance.json performance.png trtexec_*.log
# Run from anywhere: bash 08-Advance/Performance/command.sh [--quick] [--max-autotune] [--all-precisions] [--runs N]
# Default run: 10 TensorRT engines (ResNet-50 FP32, TF32, FP16, INT8; the encoder FP16; each built twice, for
# batch 1 and for batch 32, one profile each); about 10 minutes on an H200 (586 s seen, 460 s of it building).
# trtexec is optional: without it the limit column is skipped. matplotlib is optional: without it no performance.png.
set -euo pipefail
cd "$(dirname "$0")"

echo "=== benchmark.py: torch eager / torch.compile / TensorRT 8.6 on ResNet-50 and a BERT-base-sized encoder"
python3 benchmark.py "$@"
