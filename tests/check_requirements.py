#!/usr/bin/env python3
"""Does requirements.txt resolve, for every supported Python, to packages that run on a CUDA 12 driver?

    python3 tests/check_requirements.py [requirements.txt]

For CPython 3.8, 3.10, 3.11 and 3.12 on x86-64 Linux it asks pip what it would install (`pip install --dry-run
--report`, binary wheels only, nothing is installed, pip's local configuration ignored) and fails on any package built for CUDA 13 only: `*-cu13`
packages, cuda-python / cuda-bindings 13.x, or unsuffixed nvidia CUDA libraries 13.x (they need a CUDA 13 driver,
580.65 or newer, while TensorRT 8.6 is a CUDA 12 build that runs on any CUDA 12 driver, R525 and newer).

`tensorrt` is left out of the resolution: PyPI's tensorrt 8.6.1 is a source package whose installation fetches
NVIDIA's own wheels (CPython 3.6-3.11), which pip cannot resolve from PyPI's metadata. Exit status 2 means the
package index could not be reached.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PYTHONS = ("3.8", "3.10", "3.11", "3.12")
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_27_x86_64", "manylinux_2_28_x86_64",
             "manylinux_2_31_x86_64", "manylinux_2_34_x86_64", "manylinux_2_35_x86_64")
CUDA_LIBRARIES = re.compile(r"nvidia-(cuda-\w+|cublas|cudnn|cufft|curand|cusolver|cusparse|nvjitlink|nccl|nvtx)$")
UNREACHABLE = ("Max retries exceeded", "Temporary failure in name resolution", "Network is unreachable",
               "Connection refused", "ConnectTimeoutError", "NewConnectionError")


def without_tensorrt(requirements):
    lines = Path(requirements).read_text(encoding="utf-8").splitlines()
    return "\n".join(line for line in lines if not re.match(r"\s*tensorrt\b", line)) + "\n"


def cuda13_only(name, version):
    name = name.lower().replace("_", "-")
    first = int(re.match(r"\d+", version).group())
    if name.endswith("-cu13"):
        return True
    if name in ("cuda-python", "cuda-bindings") and first >= 13:
        return True
    return bool(CUDA_LIBRARIES.match(name)) and first >= 13


def resolve(python, requirements_text):
    """(python, {name: version}, error text or None)."""
    with tempfile.TemporaryDirectory() as work:
        req = Path(work) / "requirements.txt"
        req.write_text(requirements_text, encoding="utf-8")
        report = Path(work) / "report.json"
        command = [sys.executable, "-m", "pip", "--isolated", "install", "--dry-run", "--ignore-installed", "--quiet",
                   "--only-binary=:all:", "--python-version", python, "--implementation", "cp",
                   "--target", str(Path(work) / "target"), "--report", str(report), "-r", str(req)]
        for platform in PLATFORMS:
            command += ["--platform", platform]
        if os.environ.get("PIP_CERT"):  # --isolated ignores the environment: the index's certificate must stay
            command += ["--cert", os.environ["PIP_CERT"]]
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode != 0:
            return python, {}, (proc.stderr or proc.stdout).strip()
        installs = json.loads(report.read_text(encoding="utf-8"))["install"]
        return python, {item["metadata"]["name"]: item["metadata"]["version"] for item in installs}, None


def main(args):
    requirements = args[0] if args else str(Path(__file__).resolve().parent.parent / "requirements.txt")
    text = without_tensorrt(requirements)
    with ThreadPoolExecutor(len(PYTHONS)) as pool:
        results = list(pool.map(lambda python: resolve(python, text), PYTHONS))
    status = 0
    for python, packages, error in results:
        if error:
            if any(marker in error for marker in UNREACHABLE):
                print(f"Python {python}: the package index cannot be reached:\n{error[-500:]}")
                return 2
            print(f"Python {python}: does not resolve:\n{error[-2000:]}")
            status = 1
            continue
        bad = sorted(f"{name}=={version}" for name, version in packages.items() if cuda13_only(name, version))
        key = ", ".join(f"{n} {packages[n]}" for n in ("cuda-python", "cuda-bindings", "torch", "onnxruntime", "numpy")
                        if n in packages)
        print(f"Python {python}: {len(packages)} packages ({key})" + (f"; CUDA 13 only: {bad}" if bad else ""))
        status = status or (1 if bad else 0)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
