#!/bin/bash
# requires: python:torch
# Run from anywhere: bash 07-Tool/NsightSystems/command.sh
# With `nsys` (Nsight Systems) on PATH, main.py runs under `nsys profile` and the report's NVTX summary is checked;
# without it, main.py runs alone (the NVTX ranges then go nowhere) and the profiling step says why it was skipped.
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.nsys-rep ./*.qdrep ./*.sqlite ./*.plan

if command -v nsys > /dev/null; then
    echo "=== nsys profile: main.py under Nsight Systems (CUDA API, kernels, NVTX ranges) -> nvtxExample.nsys-rep"
    nsys profile -o nvtxExample --force-overwrite true --trace cuda,nvtx python3 main.py
    echo "=== nsys stats: the NVTX ranges of the report (main.py's and TensorRT's)"
    nsys stats --report nvtx_sum --format csv --output - nvtxExample.nsys-rep > nvtx_sum.log
    cut -c 1-150 nvtx_sum.log | head -n 20
    if grep -q "inference 29" nvtx_sum.log; then
        echo "check result: True, the report holds the NVTX range 'inference 29'"
    else
        echo "check result: False, no NVTX range 'inference 29' in the report"
        exit 1
    fi
    echo "=== open it: nsys-ui nvtxExample.nsys-rep (the NVTX row: main.py's ranges; the TensorRT row: one range per"
    echo "    engine layer; CUDA HW: the kernels). With trtexec: nsys profile -o myProfile trtexec"
    echo "    --loadEngine=model.plan --warmUp=0 --duration=0 --iterations=50"
else
    echo "=== nsys profile: skipped, Nsight Systems' nsys is not on PATH (it comes with the CUDA toolkit or from"
    echo "    https://developer.nvidia.com/nsight-systems). The command would be:"
    echo "    nsys profile -o nvtxExample --force-overwrite true --trace cuda,nvtx python3 main.py"
    echo "=== main.py: the NVTX-annotated inference loop, without a profiler"
    python3 main.py
fi
