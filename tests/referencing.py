"""Run a reference script's computation in a temporary copy of its example and load/compare .npz files."""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

RUNNER = Path(__file__).resolve().parent / "reference_runner.py"


def compute_in_copy(example_dir, stem, timeout=900):
    """Return the path of a fresh .npz holding reference(make_inputs()) of example_dir/stem.py."""
    work = Path(tempfile.mkdtemp(prefix="ref-"))
    copy = work / Path(example_dir).name
    shutil.copytree(example_dir, copy, ignore=shutil.ignore_patterns("*.reference.npz", "__pycache__"))
    out = work / f"{stem}.computed.npz"
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, str(RUNNER), str(copy / f"{stem}.py"), str(out)], cwd=copy, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"reference computation failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}"
                           f"{proc.stderr[-3000:]}")
    return out


def load_npz(path):
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def compare(actual, expected, rtol, atol):
    """Compare two {name: array} dicts; return a list of human-readable problems (empty when they match)."""
    problems = []
    if set(actual) != set(expected):
        problems.append(f"names differ: got {sorted(actual)}, expected {sorted(expected)}")
    for key in sorted(set(actual) & set(expected)):
        a, e = np.asarray(actual[key]), np.asarray(expected[key])
        if a.shape != e.shape:
            problems.append(f"{key}: shape {a.shape} != expected {e.shape}")
            continue
        if a.dtype.kind in "fc" or e.dtype.kind in "fc":
            a64, e64 = a.astype(np.float64), e.astype(np.float64)
            ok = np.allclose(a64, e64, rtol=rtol, atol=atol, equal_nan=True)
            if not ok:
                diff = np.abs(a64 - e64)
                diff[np.isnan(a64) & np.isnan(e64)] = 0
                rel = diff / np.maximum(np.abs(e64), 1e-30)
                problems.append(f"{key}: max abs error {np.nanmax(diff):.3e}, max rel error {np.nanmax(rel):.3e} "
                                f"(rtol={rtol}, atol={atol}), {int(np.sum(~np.isclose(a64, e64, rtol=rtol, atol=atol, equal_nan=True)))} of {a.size} elements off")
        elif not np.array_equal(a, e):
            problems.append(f"{key}: {int(np.sum(a != e))} of {a.size} elements differ (exact comparison)")
    return problems
