#!/bin/bash
# timeout: 900
# Run from anywhere: bash 02-API/BuilderConfig/command.sh
set -euo pipefail
cd "$(dirname "$0")"
scripts=(main.py Flags.py FP16.py INT8.py PrecisionConstraints.py SparseWeights.py BuilderOptimizationLevel.py)
# ==== script runner: identical in every command.sh that has it (canonical copy: tests/script_runner.sh) ====
# One Python process runs the scripts in turn, each as `python3 X.py` runs it (to run one alone: python3 X.py).
# TensorRT 8.6.0 spends about 10 s of CPU on the first trt.Builder of a process: spent here once, not per script.
python3 - "${scripts[@]}" <<'EOF'
import gc
import runpy
import sys

for script in sys.argv[1:]:
    print(f"=== {script}", flush=True)
    sys.argv = [script]
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as end:  # each script ends with sys.exit(0 if its checks passed else 1)
        if end.code:
            raise
    gc.collect()  # TensorRT 8.6.0 keeps one logger while any builder or runtime lives: free the script's first
EOF
