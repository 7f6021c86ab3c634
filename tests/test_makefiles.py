"""CPU checks of the C++ examples' Makefiles: `make -n` (print the commands, run none) must succeed and build every
source file of the folder with nvcc from CUDA_HOME, TensorRT's headers from TRT_ROOT, the cookbook's include/ and the
architecture asked for. A missing prerequisite (a header renamed in include/, a source file gone) fails here, without
a GPU or a CUDA toolkit. What the compiler itself would say is left to the GPU tests.
"""
import shutil
import subprocess

import pytest

from examples import ROOT, find_examples

MAKEFILE_EXAMPLES = [e for e in find_examples() if (ROOT / e / "Makefile").is_file()]


@pytest.fixture(scope="module")
def fake_trt_root(tmp_path_factory):
    """A TRT_ROOT with the two files the Makefiles look for (include/NvInfer.h, lib/libnvinfer.so), both empty."""
    root = tmp_path_factory.mktemp("trt_root")
    (root / "include").mkdir()
    (root / "lib").mkdir()
    (root / "include" / "NvInfer.h").write_text("")
    (root / "lib" / "libnvinfer.so").write_text("")
    return root


def test_makefile_examples_are_found():
    assert len(MAKEFILE_EXAMPLES) >= 15, [e.as_posix() for e in MAKEFILE_EXAMPLES]


@pytest.mark.parametrize("example", MAKEFILE_EXAMPLES, ids=[e.as_posix() for e in MAKEFILE_EXAMPLES])
def test_make_dry_run(example, fake_trt_root):
    if shutil.which("make") is None:
        pytest.skip("needs GNU make on PATH (`make -n` only prints the commands)")
    folder = ROOT / example
    cuda_home = "/nonexistent/cuda-for-make-n"
    proc = subprocess.run(["make", "-n", "-B", f"TRT_ROOT={fake_trt_root}", f"CUDA_HOME={cuda_home}",
                           "ARCH=-arch=sm_90"], cwd=folder, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"make -n failed in {example}:\n{proc.stdout}\n{proc.stderr}"
    commands = proc.stdout
    assert f"{cuda_home}/bin/nvcc" in commands, f"nvcc does not come from CUDA_HOME:\n{commands}"
    assert f"-I{fake_trt_root}/include" in commands, f"TensorRT's headers do not come from TRT_ROOT:\n{commands}"
    assert "-arch=sm_90" in commands, f"ARCH is not passed to nvcc:\n{commands}"
    sources = sorted(p.name for p in folder.iterdir() if p.suffix in (".cu", ".cpp"))
    assert sources, f"{example} has a Makefile and no .cu / .cpp file"
    for name in sources:
        assert name in commands, f"{name} is not compiled by `make` in {example}:\n{commands}"
    for line in commands.splitlines():
        for flag in line.split():
            if flag.startswith("-I") and not flag.startswith(("-I/", f"-I{cuda_home}")):
                assert (folder / flag[2:]).is_dir(), f"include path {flag} does not exist from {example}"
