"""CPU tests: every stored reference regenerates from the example's own independent computation.

Integers and booleans must match exactly and floats within a few units in the last place (another CPU may pick
other numpy kernels); references computed with torch or onnxruntime state REFERENCE_TOLERANCE in their script,
since the versions on one machine differ from another's. Dtypes must match too.
"""
import pytest

from examples import ROOT, find_examples, reference_scripts
from referencing import compare, compute_in_copy, load_npz

CASES = [(example, stem) for example in find_examples() for stem in reference_scripts(ROOT / example)]


@pytest.mark.parametrize("example,stem", CASES, ids=[f"{e.as_posix()}/{s}" for e, s in CASES])
def test_reference_regenerates(example, stem):
    stored_path = ROOT / example / f"{stem}.reference.npz"
    assert stored_path.is_file(), f"missing {stored_path.relative_to(ROOT)}"
    stored = load_npz(stored_path)
    assert stored, f"{stored_path.relative_to(ROOT)} is empty"
    tolerance = reference_scripts(ROOT / example)[stem]["reference_tolerance"]
    computed = load_npz(compute_in_copy(ROOT / example, stem))
    problems = compare(computed, stored, tolerance)
    assert not problems, f"{example}/{stem}.reference.npz does not regenerate:\n" + "\n".join(problems)
