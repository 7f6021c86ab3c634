"""CPU tests on the shape of the cookbook: every example complete, nothing large, README catalogue in sync."""
import pytest

from catalogue import render_catalogue, read_readme_catalogue, read_verified
from examples import ROOT, command_header, find_examples, reference_scripts, tracked_files

EXAMPLES = find_examples()
MAX_FILE_BYTES = 1 << 20


def test_examples_are_discovered():
    assert EXAMPLES, "no example folder (a folder with command.sh) was found"
    assert ROOT / "01-SimpleDemo" / "TensorRT8.6" in [ROOT / e for e in EXAMPLES]


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.as_posix() for e in EXAMPLES])
def test_example_is_complete(example):
    folder = ROOT / example
    readme = folder / "README.md"
    assert readme.is_file(), f"{example} has no README.md"
    assert readme.read_text(encoding="utf-8").startswith("# "), f"{example}/README.md must start with a '# ' title"
    command = (folder / "command.sh").read_text(encoding="utf-8")
    assert command.startswith("#!/bin/bash"), f"{example}/command.sh must start with #!/bin/bash"
    command_header(folder)  # parses
    scripts = reference_scripts(folder)
    assert scripts, f"{example} has no reference script (a .py defining make_inputs() and reference())"
    for stem, info in scripts.items():
        assert (folder / f"{stem}.reference.npz").is_file(), f"{example}/{stem}.py has no {stem}.reference.npz"
        tol = info["tolerance"]
        assert isinstance(tol, dict) and {"rtol", "atol"} <= set(tol), \
            f"{example}/{stem}.py must define TOLERANCE = {{'rtol': ..., 'atol': ...}} (plus per-output entries)"
        for key, value in tol.items():
            assert key in ("rtol", "atol") or (isinstance(value, dict) and set(value) == {"rtol", "atol"}), \
                f"{example}/{stem}.py: TOLERANCE[{key!r}] must be {{'rtol': ..., 'atol': ...}}"
        if info["reference_tolerance"] is not None:
            assert set(info["reference_tolerance"]) == {"rtol", "atol"}
        assert all(isinstance(v, str) and v for v in info["known_deviations"].values()), \
            f"{example}/{stem}.py: KNOWN_DEVIATIONS maps output names to the explanation"
    for npz in folder.glob("*.reference.npz"):
        stem = npz.name[: -len(".reference.npz")]
        assert stem in scripts, f"{example}/{npz.name} has no script {stem}.py with make_inputs() and reference()"


def test_no_large_tracked_files():
    large = [(p.relative_to(ROOT).as_posix(), p.stat().st_size) for p in tracked_files()
             if p.stat().st_size > MAX_FILE_BYTES]
    assert not large, f"files over 1 MiB are tracked: {large}"


def test_no_generated_files_tracked():
    generated = (".plan", ".engine", ".onnx", ".exe", ".o", ".so", ".output.npz")
    found = [p.relative_to(ROOT).as_posix() for p in tracked_files() if p.name.endswith(generated)]
    assert not found, f"generated files are in the tree: {found}"


def test_readme_catalogue_in_sync():
    current = read_readme_catalogue()
    expected = render_catalogue()
    assert current == expected, "README.md's catalogue is out of date: run `python3 tests/catalogue.py --write`"


def test_verified_list_names_existing_examples():
    known = {e.as_posix() for e in EXAMPLES}
    unknown = sorted(set(read_verified()) - known)
    assert not unknown, f"tests/gpu_verified.txt names folders that are not examples: {unknown}"


def test_durations_name_existing_examples():
    from conftest import read_durations
    known = {e.as_posix() for e in EXAMPLES}
    unknown = sorted(set(read_durations()) - known)
    assert not unknown, f"tests/gpu_durations.txt names folders that are not examples: {unknown}"


def test_makespan_of_the_longest_first_schedule():
    from suite_time import makespan
    assert makespan([3, 3, 3], 3) == 3
    assert makespan([5, 4, 3, 3, 3], 2) == 10  # 5 | 4, then 3 -> 7, 3 -> 8, 3 -> 10
    assert makespan([], 16) == 0
