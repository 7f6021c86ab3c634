"""GPU tests: run each example's command.sh in a temporary copy and compare what it saved with its references.

They skip, with the reason, where there is no NVIDIA GPU, no importable tensorrt, or a tool the example
names in `# requires:` (nvcc, trtexec, ...) is missing. Run them in parallel: `python3 -m pytest -n 8`.
"""
import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import time

import numpy as np
import pytest

from conftest import gpu_skip_reason, requirement_skip_reason
from catalogue import verification
from examples import ROOT, command_header, find_examples, log_name, reference_scripts
from referencing import compare, load_npz

EXAMPLES = find_examples()
PROFILER = ROOT / "tests" / "profiling"  # its sitecustomize.py, see COOKBOOK_PROFILE_DIR


def output_sets(folder):
    """{set name: {array name: array}} for every X[.tag].output.npz file and X.tag.output/ folder of .npy files."""
    sets = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name.endswith(".output.npz"):
            sets[path.name] = load_npz(path)
        elif path.is_dir() and path.name.endswith(".output"):
            sets[path.name + "/"] = {p.stem: np.load(p, allow_pickle=False) for p in sorted(path.glob("*.npy"))}
    return sets


def run_in_copy(example, tmp_path, timeout):
    """Copy the example (and include/, at the same relative place) to tmp_path and run its command.sh there.
    Returns (folder, return code or None if it ran past `timeout` seconds, stdout + stderr)."""
    work = tmp_path / "cookbook"
    folder = work / example
    shutil.copytree(ROOT / example, folder, ignore=shutil.ignore_patterns("*.output.npz", "*.output", "*.plan",
                                                                          "__pycache__"))
    shutil.copytree(ROOT / "include", work / "include")
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
    profile_dir = os.environ.get("COOKBOOK_PROFILE_DIR")
    if profile_dir:  # where the time goes: every python3 of command.sh records its scripts and builds (observes only)
        os.makedirs(profile_dir, exist_ok=True)
        env["COOKBOOK_PROFILE_FILE"] = os.path.join(os.path.abspath(profile_dir), log_name(example) + ".profile.jsonl")
        env["PYTHONPATH"] = os.pathsep.join([str(PROFILER), *filter(None, [env.get("PYTHONPATH")])])
    # its own process group: on a timeout the whole tree (bash, python, trtexec, ...) is killed, and what it
    # printed so far is kept
    proc = subprocess.Popen(["bash", "command.sh"], cwd=folder, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
        return folder, proc.returncode, stdout + stderr
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        return folder, None, stdout + stderr + f"\n[test harness] command.sh ran past {timeout} s and was killed\n"


@contextlib.contextmanager
def gpu_turn(request, alone):
    """Every GPU test of one pytest run holds a lock file while its command.sh runs: shared, or exclusive for an
    example that says `# alone: yes` (it measures speed), which then waits for the others to end and keeps new ones
    from starting. The workers of pytest-xdist share the file through the run's id."""
    run_id = getattr(request.config, "workerinput", {}).get("testrunuid", str(os.getpid()))
    with open(os.path.join(tempfile.gettempdir(), f"cookbook-gpu-{run_id}.lock"), "a") as lock:
        start = time.monotonic()
        fcntl.flock(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        # in the JUnit file: record_gpu_run.py takes the waiting out of the example's recorded time
        request.node.user_properties.append(("lock_wait_s", f"{time.monotonic() - start:.1f}"))
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.mark.gpu
@pytest.mark.parametrize("example", [  # `-m "gpu and not alone"` selects the examples that share the GPU
    pytest.param(e, id=e.as_posix(), marks=pytest.mark.alone if command_header(ROOT / e).alone else ())
    for e in EXAMPLES])
def test_example_on_gpu(example, tmp_path, request):
    if request.config.getoption("--stale-only") and verification(example) == "yes":
        pytest.skip("--stale-only: passed on the GPU with these very files (tests/gpu_verified.txt)")
    reason = gpu_skip_reason()
    if reason:
        pytest.skip(reason)
    header = command_header(ROOT / example)
    cap = os.environ.get("COOKBOOK_TIMEOUT_CAP")  # lowers every `# timeout:` where a run must end in time
    timeout = min(header.timeout, int(cap)) if cap else header.timeout
    reason = requirement_skip_reason(header.requires)
    if reason:
        pytest.skip(f"{reason} ({header.if_missing})" if header.if_missing else reason)

    with gpu_turn(request, header.alone):
        folder, returncode, output = run_in_copy(example, tmp_path, timeout)
    log_dir = os.environ.get("COOKBOOK_LOG_DIR")  # keep every example's full output, e.g. for its README
    if log_dir:
        name = log_name(example)
        os.makedirs(log_dir, exist_ok=True)
        with open(os.path.join(log_dir, name + ".log"), "w") as f:
            f.write(output)
        for pattern in header.keep:  # `# keep:` files, e.g. a chart for the README
            for path in sorted(folder.glob(pattern)):
                os.makedirs(os.path.join(log_dir, name), exist_ok=True)
                shutil.copy2(path, os.path.join(log_dir, name))
    tail = f"\n--- output tail of {example}/command.sh ---\n{output[-6000:]}"
    assert returncode is not None, f"command.sh ran past {timeout} s{tail}"
    assert returncode == 0, f"command.sh exited with {returncode}{tail}"
    assert "check result: True" in output, f"no 'check result: True' printed{tail}"
    assert "check result: False" not in output, f"a check failed{tail}"

    scripts = reference_scripts(ROOT / example)
    sets = output_sets(folder)
    compared = 0
    for stem, info in scripts.items():
        mine = {name: arrays for name, arrays in sets.items() if name.split(".", 1)[0] == stem}
        assert mine, f"{stem}.py's outputs were not saved (expected {stem}.output.npz or {stem}.<tag>.output/){tail}"
        expected = load_npz(ROOT / example / f"{stem}.reference.npz")
        for name, arrays in mine.items():
            problems = compare(arrays, expected, info["tolerance"], info["known_deviations"])
            assert not problems, f"{name} differs from {stem}.reference.npz:\n" + "\n".join(problems) + tail
            compared += len(arrays)
    unmatched = sorted(name for name in sets if name.split(".", 1)[0] not in scripts)
    assert not unmatched, f"output sets without a reference script: {unmatched}"
    assert compared > 0, "nothing was compared"
