"""Shared fixtures: where the GPU tests may run, and why they skip when they cannot."""
import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


@functools.lru_cache(maxsize=None)
def gpu_skip_reason():
    """None when an NVIDIA GPU and an importable tensorrt are present, else the precise reason."""
    if shutil.which("nvidia-smi"):
        proc = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
        if proc.returncode != 0 or "GPU" not in proc.stdout:
            return f"no NVIDIA GPU: `nvidia-smi -L` found none ({(proc.stderr or proc.stdout).strip()[:200]})"
    elif not os.path.exists("/dev/nvidia0"):
        return "no NVIDIA GPU on this machine (no nvidia-smi, no /dev/nvidia0)"
    proc = subprocess.run([sys.executable, "-c", "import tensorrt; print(tensorrt.__version__)"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return f"tensorrt is not importable by {sys.executable}: {last}"
    return None


@functools.lru_cache(maxsize=None)
def python_module_missing(name):
    proc = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True)
    return None if proc.returncode == 0 else (proc.stderr.strip().splitlines() or ["?"])[-1]


def requirement_skip_reason(requires):
    """Reason to skip for `# requires:` entries of command.sh that are absent here, else None."""
    for item in requires:
        if item.startswith("python:"):
            error = python_module_missing(item.split(":", 1)[1])
            if error:
                return f"needs Python module {item.split(':', 1)[1]}: {error}"
        elif item == "nvcc":
            cuda_home = os.environ.get("CUDA_HOME", "/usr/local/cuda")
            if not shutil.which("nvcc") and not os.path.exists(os.path.join(cuda_home, "bin", "nvcc")):
                return f"needs nvcc (CUDA toolkit), not on PATH nor in CUDA_HOME={cuda_home}"
        elif item == "trt_root":  # TensorRT's C++ headers: $TRT_ROOT (tar package) or the system's (containers, .deb)
            root = os.environ.get("TRT_ROOT", "/opt/trt-8.6.0")
            candidates = [os.path.join(root, "include"), "/usr/include/x86_64-linux-gnu", "/usr/include"]
            if not any(os.path.exists(os.path.join(d, "NvInfer.h")) for d in candidates):
                return ("needs TensorRT's C++ headers and libraries: set TRT_ROOT (with include/NvInfer.h and lib/) "
                        "or install them system-wide")
        elif not shutil.which(item):
            return f"needs the command `{item}`, not found on PATH"
    return None


def pytest_addoption(parser):
    parser.addoption("--stale-only", action="store_true", default=False,
                     help="GPU tests: run only the examples whose files changed since their last recorded GPU pass "
                          "(tests/gpu_verified.txt)")
