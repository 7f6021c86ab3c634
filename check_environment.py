#!/usr/bin/env python3
"""Run this first: does this machine have what the cookbook's examples need, and if not, what to do.

    python3 check_environment.py            # report; exit 0
    python3 check_environment.py --strict   # exit 1 when a problem was found

It prints the GPU, its driver and the newest CUDA version that driver supports; TensorRT's version and where it
was loaded from; cuda-python and whether its bindings can talk to this driver; torch and the CUDA version it was
built for; onnx / onnxruntime, Polygraphy, onnx-graphsurgeon; nvcc and TRT_ROOT for the C++ examples. Each problem
comes with what to do. It needs nothing but the Python standard library and runs on machines without a GPU too.
"""
import importlib
import os
import re
import shutil
import subprocess
import sys

problems = []


def show(what, value):
    print(f"  {what:<26} {value}")


def problem(text, fix):
    problems.append((text, fix))
    print(f"  PROBLEM: {text}\n           -> {fix}")


def version_of(distribution):
    try:
        from importlib import metadata
        return metadata.version(distribution)
    except Exception:  # not installed (or Python 3.7's missing importlib.metadata)
        return None


def major(version):
    m = re.match(r"(\d+)", str(version or ""))
    return int(m.group(1)) if m else None


def run(command):
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=60)
        return proc.returncode, proc.stdout + proc.stderr
    except (OSError, subprocess.TimeoutExpired) as error:
        return -1, str(error)


def check_python():
    print("Python")
    show("python", f"{sys.version.split()[0]} ({sys.executable})")
    if sys.version_info < (3, 8) or sys.version_info >= (3, 13):
        problem("the examples are written for Python 3.8-3.12", "use Python 3.8-3.12 (the course container has 3.10)")
    numpy_version = version_of("numpy")
    show("numpy", numpy_version or "not installed")
    if numpy_version is None:
        problem("numpy is missing", "pip install -r requirements.txt")


def check_gpu():
    """The driver's newest CUDA version (major, minor), or None without a GPU."""
    print("GPU and driver")
    if not shutil.which("nvidia-smi"):
        show("GPU", "none: no nvidia-smi on PATH" + (" (but /dev/nvidia0 exists)" if os.path.exists("/dev/nvidia0") else ""))
        print("  No NVIDIA GPU here: the examples cannot run; `python3 -m pytest` runs the CPU tests and skips the GPU ones.")
        return None
    code, out = run(["nvidia-smi", "--query-gpu=name,driver_version,compute_cap", "--format=csv,noheader"])
    if code != 0:
        problem(f"nvidia-smi failed: {out.strip()[:200]}", "check the NVIDIA driver installation (nvidia-smi must work)")
        return None
    for line in out.strip().splitlines():
        show("GPU, driver, compute cap.", line.strip())
    code, out = run(["nvidia-smi"])
    m = re.search(r"CUDA Version:\s*(\d+)\.(\d+)", out)
    cuda = (int(m.group(1)), int(m.group(2))) if m else None
    show("newest CUDA of the driver", f"{cuda[0]}.{cuda[1]}" if cuda else "unknown")
    if cuda and cuda[0] < 12:
        problem(f"the driver supports CUDA {cuda[0]}.{cuda[1]}; TensorRT 8.6's CUDA 12 build needs a CUDA 12 driver",
                "install an R525 or newer driver (or use TensorRT 8.6's CUDA 11 build with cuda-python 11.x)")
    return cuda


def check_tensorrt():
    print("TensorRT")
    try:
        trt = importlib.import_module("tensorrt")
    except Exception as error:  # ImportError, or OSError when libnvinfer cannot be loaded
        show("tensorrt", f"not importable: {error}")
        problem("the Python module tensorrt cannot be imported",
                "pip install -r requirements.txt (TensorRT 8.6 wheels exist for CPython 3.6-3.11), or use the "
                "course container nvcr.io/nvidia/pytorch:23.06-py3; with a tar package, add its python/ wheel and lib/ "
                "to LD_LIBRARY_PATH")
        return None
    show("tensorrt", f"{trt.__version__} ({os.path.dirname(trt.__file__)})")
    if not trt.__version__.startswith("8.6"):
        problem(f"this cookbook teaches TensorRT 8.6; {trt.__version__} is loaded",
                "install tensorrt 8.6.x (requirements.txt), or read the 'TensorRT 10' note of each example")
    search = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
    for name in ("libnvinfer.so.8", "libnvonnxparser.so.8", "libnvinfer_plugin.so.8"):
        where = next((os.path.join(d, name) for d in search if os.path.exists(os.path.join(d, name))), None)
        if where is None:
            code, out = run(["bash", "-c", f"ldconfig -p | grep -m1 {name} || true"])
            where = out.strip().split("=>")[-1].strip() if out.strip() else None
        show(name, where or "not found on LD_LIBRARY_PATH nor in the ldconfig cache")
        if where is None and name != "libnvinfer.so.8":
            print(f"  note: the examples that need {name} (ONNX parser, plugins) will fail to load it")
    return trt.__version__


def check_cuda_python(driver_cuda):
    print("cuda-python")
    version = version_of("cuda-python") or version_of("cuda-bindings")
    show("cuda-python / bindings", f"{version_of('cuda-python')} / {version_of('cuda-bindings')}")
    try:
        try:
            from cuda.bindings import runtime as cudart
            show("import", "from cuda.bindings import runtime (cuda-python >= 12.6)")
        except ImportError:
            from cuda import cudart
            show("import", "from cuda import cudart (older cuda-python)")
    except Exception as error:
        show("import", f"failed: {error}")
        problem("cuda-python is missing or broken", "pip install 'cuda-python>=12.0,<13'")
        return
    if driver_cuda and major(version) and major(version) > driver_cuda[0]:
        problem(f"cuda-python {version} is built for CUDA {major(version)}, the driver supports CUDA "
                f"{driver_cuda[0]}.{driver_cuda[1]}", f"pip install 'cuda-python>={driver_cuda[0]}.0,<{driver_cuda[0] + 1}'")
    if driver_cuda is None:
        return
    error, count = cudart.cudaGetDeviceCount()
    if error != cudart.cudaError_t.cudaSuccess:
        problem(f"cuda-python cannot talk to the driver: cudaGetDeviceCount -> {error.name}",
                "match cuda-python's major version to the driver's CUDA version (see above)")
        return
    _, runtime = cudart.cudaRuntimeGetVersion()
    show("devices seen by cudart", f"{count} (runtime {runtime // 1000}.{runtime % 1000 // 10})")


def check_torch(driver_cuda):
    print("Frameworks and tools")
    version = version_of("torch")
    if version is None:
        show("torch", "not installed (needed by the examples that export ONNX from PyTorch)")
    else:
        try:
            torch = importlib.import_module("torch")
            built = torch.version.cuda
            show("torch", f"{torch.__version__}, built for CUDA {built}, cuda available: {torch.cuda.is_available()}")
            if driver_cuda and built and major(built) > driver_cuda[0]:
                problem(f"torch {torch.__version__} is built for CUDA {built}, newer than the driver's "
                        f"{driver_cuda[0]}.{driver_cuda[1]}", "install a CUDA 12 build of torch, e.g. pip install torch "
                        "--index-url https://download.pytorch.org/whl/cu121 (cu118/cu121/cu124/cu126: pick one "
                        "the driver supports)")
        except Exception as error:
            problem(f"torch {version} is installed but does not import: {error}", "reinstall torch")
    for module, distribution in (("onnx", "onnx"), ("onnxruntime", None), ("polygraphy", "polygraphy"),
                                 ("onnx_graphsurgeon", "onnx-graphsurgeon"), ("torchvision", "torchvision"),
                                 ("matplotlib", "matplotlib")):
        try:
            loaded = importlib.import_module(module)
            extra = ""
            if module == "onnxruntime":
                extra = f", providers {loaded.get_available_providers()}"
            show(module, f"{getattr(loaded, '__version__', version_of(distribution or module))}{extra}")
        except Exception as error:
            show(module, f"not importable ({error.__class__.__name__}); pip install -r requirements.txt")


def check_cpp():
    print("C++ examples")
    cuda_home = os.environ.get("CUDA_HOME", "/usr/local/cuda")
    nvcc = shutil.which("nvcc") or (os.path.join(cuda_home, "bin", "nvcc")
                                    if os.path.exists(os.path.join(cuda_home, "bin", "nvcc")) else None)
    if nvcc:
        code, out = run([nvcc, "--version"])
        m = re.search(r"release ([\d.]+)", out)
        show("nvcc", f"{nvcc} (CUDA {m.group(1) if m else '?'})")
    else:
        show("nvcc", f"not found (PATH, CUDA_HOME={cuda_home}): the C++ examples skip")
    root = os.environ.get("TRT_ROOT")
    candidates = ([os.path.join(root, "include")] if root else []) + ["/usr/include/x86_64-linux-gnu", "/usr/include"]
    header = next((d for d in candidates if os.path.exists(os.path.join(d, "NvInferVersion.h"))), None)
    if header is None:
        show("TensorRT headers", f"not found (TRT_ROOT={root or 'unset'}): the C++ examples skip")
        return
    text = open(os.path.join(header, "NvInferVersion.h"), encoding="utf-8", errors="replace").read()
    parts = [re.search(rf"#define NV_TENSORRT_{k}\s+(\d+)", text) for k in ("MAJOR", "MINOR", "PATCH")]
    version = ".".join(p.group(1) for p in parts if p)
    show("TensorRT headers", f"{header} (version {version})")
    if version and not version.startswith("8.6"):
        problem(f"the TensorRT headers in {header} are version {version}", "point TRT_ROOT at a TensorRT 8.6 package")


def main():
    check_python()
    driver_cuda = check_gpu()
    check_tensorrt()
    check_cuda_python(driver_cuda)
    check_torch(driver_cuda)
    check_cpp()
    print(f"\n{len(problems)} problem(s) found" + (": see PROBLEM lines above" if problems else ""))
    return 1 if problems and "--strict" in sys.argv[1:] else 0


if __name__ == "__main__":
    sys.exit(main())
