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


# Regenerating a float reference on another CPU may differ in the last bits (numpy's BLAS and vectorized loops
# pick CPU-specific kernels: summation order, FMA). Default tolerance there: a few units in the last place of the
# dtype, relative to each value and to the array's largest magnitude (sums that cancel keep the summands' error).
ULPS = 8


def portable_tolerance(dtype, expected):
    eps = float(np.finfo(dtype).eps) if np.dtype(dtype).kind in "fc" else 0.0
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    return {"rtol": ULPS * eps, "atol": ULPS * eps * scale}


def compare(actual, expected, tolerance=None, known_deviations=()):
    """Compare two {name: array} dicts; return a list of human-readable problems (empty when they match).

    Names, shapes and dtypes must be equal. Integers and booleans are compared exactly; floats within
    `tolerance` ({"rtol", "atol"}, optionally with per-output entries {name: {"rtol", "atol"}}), or, when it is
    None, within a few units in the last place (portable_tolerance). An output named in known_deviations must
    *differ* from the expected (documented) values: TensorRT 8.6.0 is known to deviate there.
    """
    problems = []
    if set(actual) != set(expected):
        problems.append(f"names differ: got {sorted(actual)}, expected {sorted(expected)}")
    for key in sorted(set(actual) & set(expected)):
        a, e = np.asarray(actual[key]), np.asarray(expected[key])
        if a.shape != e.shape or a.dtype != e.dtype:
            problems.append(f"{key}: {a.shape} {a.dtype} != expected {e.shape} {e.dtype}")
            continue
        if e.dtype.kind in "fc":
            if tolerance is None:
                tol = portable_tolerance(e.dtype, e)
            else:
                entry = tolerance.get(key)
                tol = entry if isinstance(entry, dict) else {"rtol": tolerance["rtol"], "atol": tolerance["atol"]}
            a64, e64 = a.astype(np.float64), e.astype(np.float64)
            close = np.isclose(a64, e64, rtol=tol["rtol"], atol=tol["atol"], equal_nan=True)
            detail = ""
            if not close.all():
                diff = np.abs(a64 - e64)
                diff[np.isnan(a64) & np.isnan(e64)] = 0
                rel = diff / np.maximum(np.abs(e64), 1e-30)
                detail = (f"max abs error {np.nanmax(diff):.3e}, max rel error {np.nanmax(rel):.3e} "
                          f"(rtol={tol['rtol']:.3g}, atol={tol['atol']:.3g}), {int(np.sum(~close))} of {a.size} "
                          "elements off")
            same = bool(close.all())
        else:
            same = bool(np.array_equal(a, e))
            detail = "" if same else f"{int(np.sum(a != e))} of {a.size} elements differ (exact comparison)"
        if key in known_deviations:
            if same:
                problems.append(f"{key}: listed in KNOWN_DEVIATIONS but now matches the documented result: "
                                "TensorRT follows its documentation here, remove the entry")
        elif not same:
            problems.append(f"{key}: {detail}")
    return problems
