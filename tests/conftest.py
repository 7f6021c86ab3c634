"""Shared fixtures: where the GPU tests may run, and why they skip when they cannot."""
import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


DURATIONS = Path(__file__).resolve().parent / "gpu_durations.txt"


def read_durations():
    """{example folder: seconds its GPU test took in the last recorded run} (tests/gpu_durations.txt)."""
    if not DURATIONS.is_file():
        return {}
    entries = {}
    for line in DURATIONS.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            folder, seconds = line.rsplit(None, 1)
            entries[folder] = float(seconds)
    return entries


def write_durations(entries):
    lines = ["# seconds each example's GPU test took in its last recorded run (tests/record_gpu_run.py), beside",
             "# the other examples of that run; the suite starts the longest first"]
    lines += [f"{folder} {seconds:.1f}" for folder, seconds in sorted(entries.items())]
    DURATIONS.write_text("\n".join(lines) + "\n", encoding="utf-8")


def deal_first_chunks(longest_first, n_items, workers, maxschedchunk=None):
    """The order that makes pytest-xdist start the longest tests on different workers.

    With `-n N`, pytest-xdist (3.x, `--dist load`) hands each worker, at the start, a chunk of c consecutive tests
    of the collection (c = max(min(n_items // N // 4, --maxschedchunk), 2); one at a time, round-robin, when there
    are fewer than 2·N tests), and a worker runs its chunk one test after the other. Sorted longest first, long
    examples therefore shared a chunk: seen on the H200 (2026-12-03, 16 workers), 03/DigitsCNN and 04/DigitsCNN, the
    2nd and 3rd longest, ran on one worker; 04 started at 268 s, when 03 ended, and finished the shared phase alone at
    457 s, the CPU 93 % idle for its last two minutes. So the first chunks are dealt like a snake draft: the N longest tests open the N
    chunks, the next N go in reverse order as the chunks' second tests, and so on; the rest follow longest first.
    tests/test_profiling.py checks this against pytest-xdist's own scheduler."""
    longest_first = list(longest_first)
    if workers <= 1 or n_items < 2 * workers:
        return longest_first  # round-robin already puts the longest N on N workers
    c = max(min(n_items // workers // 4, maxschedchunk or n_items), 2)
    slots = min(len(longest_first), workers * c)  # the positions of the first chunks that these tests fill
    chunks = (slots + c - 1) // c
    dealt = []
    for r in range(c):  # the r-th test of every chunk: forward in even rounds, backward in odd ones
        row = [k * c + r for k in range(chunks) if k * c + r < slots]
        dealt += row if r % 2 == 0 else row[::-1]
    order = [None] * slots
    for test, slot in zip(longest_first, dealt):
        order[slot] = test
    return order + longest_first[slots:]


@pytest.hookimpl(trylast=True)  # after -m / -k have deselected: the chunks are cut from what is left
def pytest_collection_modifyitems(config, items):
    """GPU tests longest first (recorded durations; examples never timed count as long), dealt so that pytest-xdist
    starts the longest on different workers (deal_first_chunks), so that the parallel workers of `-n 16` do not end
    with one long example running alone; then the other tests in their order; then the examples whose command.sh
    says `# alone: yes` (they measure speed: each runs with no other GPU test beside it, see test_examples_gpu.py)."""
    durations = read_durations()
    unknown = max(durations.values(), default=0.0)

    def seconds(item):
        callspec = getattr(item, "callspec", None)
        example = callspec.params.get("example") if callspec else None
        if item.get_closest_marker("gpu") is None or example is None:
            return None
        return durations.get(Path(example).as_posix(), unknown)

    def alone(item):  # the `alone` mark: test_examples_gpu.py gives it to the examples that say `# alone: yes`
        return item.get_closest_marker("alone") is not None

    gpu = sorted((i for i in items if seconds(i) is not None), key=seconds, reverse=True)
    others = [i for i in items if seconds(i) is None]
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))  # set on pytest-xdist's workers
    shared = deal_first_chunks([i for i in gpu if not alone(i)], len(items), workers,
                               config.getoption("maxschedchunk", None))
    items[:] = shared + others + [i for i in gpu if alone(i)]


def pytest_addoption(parser):
    parser.addoption("--stale-only", action="store_true", default=False,
                     help="GPU tests: run only the examples whose files changed since their last recorded GPU pass "
                          "(tests/gpu_verified.txt)")


def mps_note(environ=os.environ, which=shutil.which):
    """One header line on a machine with an NVIDIA driver: whether a CUDA MPS control daemon is there for the GPU
    tests (its pipe `control` in CUDA_MPS_PIPE_DIRECTORY, by default /tmp/nvidia-mps). None without nvidia-smi."""
    if not which("nvidia-smi"):
        return None
    pipe = os.path.join(environ.get("CUDA_MPS_PIPE_DIRECTORY") or "/tmp/nvidia-mps", "control")
    if os.path.exists(pipe):
        return f"GPU tests: CUDA MPS control daemon found ({pipe}): the examples share the GPU without time-slicing"
    return ("GPU tests: no CUDA MPS control daemon (no " + pipe + "): the examples time-slice the GPU, about 3 times "
            "slower on 16 workers (seen on an H200); tests/gpu_background.sh runs them under MPS, see README")


def pytest_report_header(config):
    note = mps_note()
    return [note] if note else []
