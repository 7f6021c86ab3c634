"""CPU tests of the setup: check_environment.py runs anywhere, requirements.txt resolves to CUDA 12 builds."""
import os
import subprocess
import sys

import pytest

from conftest import gpu_skip_reason
from examples import ROOT


def test_check_environment_runs_and_says_what_it_found():
    proc = subprocess.run([sys.executable, str(ROOT / "check_environment.py")], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for section in ("Python", "GPU and driver", "TensorRT", "cuda-python", "Frameworks and tools", "C++ examples"):
        assert f"\n{section}\n" in "\n" + proc.stdout, f"no '{section}' section:\n{proc.stdout}"
    assert "problem(s) found" in proc.stdout
    if gpu_skip_reason() and not os.path.exists("/dev/nvidia0"):
        assert "No NVIDIA GPU here" in proc.stdout, proc.stdout


def test_requirements_resolve_to_cuda12_builds():
    """pip's dry run for CPython 3.8/3.10/3.11/3.12 must pick no package that needs a CUDA 13 driver."""
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "check_requirements.py")], capture_output=True,
                          text=True, timeout=1500)
    if proc.returncode == 2:
        pytest.skip(f"the package index cannot be reached: {proc.stdout.strip()[-300:]}")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cuda13_detection_can_fail():
    sys.path.insert(0, str(ROOT / "tests"))
    from check_requirements import cuda13_only
    assert cuda13_only("cuda-python", "13.0.1") and cuda13_only("cuda_bindings", "13.3.0")
    assert cuda13_only("nvidia-cudnn-cu13", "9.19.0.56") and cuda13_only("nvidia-cuda-runtime", "13.0.48")
    assert not cuda13_only("cuda-python", "12.9.10") and not cuda13_only("nvidia-cudnn-cu12", "9.10.2.21")
    assert not cuda13_only("nvidia-cublas-cu12", "12.8.4.1") and not cuda13_only("torch", "2.9.1")
