"""Discovery and parsing shared by the tests and tools in this folder (not used by the examples themselves).

An example is a folder holding `command.sh`. Inside it, every script `X.py` that defines the functions
`make_inputs()` and `reference(inputs)` at module level is a *reference script*: its stored expected outputs are
`X.reference.npz`, its tolerance against TensorRT is the literal `TOLERANCE = {"rtol": ..., "atol": ...}` (with
optional per-output entries `"name": {"rtol": ..., "atol": ...}`), `KNOWN_DEVIATIONS = {"name": "why"}` (optional)
names the outputs where TensorRT 8.6.0 is known to differ from the documented result, and (optionally) its
tolerance for regenerating the stored file on another machine is `REFERENCE_TOLERANCE = {...}` (default: integers
and booleans exact, floats within a few units in the last place, see referencing.compare).
When run, the example saves what TensorRT computed as output sets: `X.output.npz` or `X.<tag>.output.npz`
(Python) or a folder `X.<tag>.output/` of `.npy` files (C++). Each output set is compared with `X.reference.npz`.
"""
import ast
import fnmatch
import hashlib
import os
import re
import subprocess
from pathlib import Path
from typing import NamedTuple, Optional

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {".git", ".gpu", ".whl", "tests", "include", "__pycache__", ".pytest_cache", ".ci"}
DEFAULT_TIMEOUT = 600


def find_examples(root=ROOT):
    """Every folder under root holding a command.sh, as paths relative to root, sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        if "command.sh" in filenames:
            found.append(Path(dirpath).relative_to(root))
    return sorted(found, key=lambda p: p.as_posix())


def _module_info(script):
    tree = ast.parse(Path(script).read_text(encoding="utf-8"), filename=str(script))
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    literals = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ("TOLERANCE", "REFERENCE_TOLERANCE", "KNOWN_DEVIATIONS"):
                literals[node.targets[0].id] = ast.literal_eval(node.value)
    return functions, literals


def reference_scripts(example_dir):
    """{stem: {"script", "tolerance", "reference_tolerance", "known_deviations"}} for one example folder."""
    result = {}
    for script in sorted(Path(example_dir).glob("*.py")):
        functions, literals = _module_info(script)
        if {"make_inputs", "reference"} <= functions:
            result[script.stem] = {
                "script": script,
                "tolerance": literals.get("TOLERANCE"),
                "reference_tolerance": literals.get("REFERENCE_TOLERANCE"),
                "known_deviations": literals.get("KNOWN_DEVIATIONS", {}),
            }
    return result


class CommandHeader(NamedTuple):
    """The header comments of command.sh that the GPU tests read (CONTRIBUTING.md lists them)."""
    requires: list  # `# requires: nvcc trtexec python:torch`: tools the GPU test needs, else it skips
    timeout: int  # `# timeout: 600` (seconds)
    if_missing: Optional[str]  # `# if missing: why`: said with the skip reason when a requirement is missing
    keep: list  # `# keep: performance.png performance.md`: files (glob patterns) the GPU suite copies next to the
    #             example's log (COOKBOOK_LOG_DIR/<example>/), e.g. a chart to commit with the README
    alone: bool  # `# alone: yes`: the example measures speed, so the GPU suite runs it with no other GPU test beside
    #              it (tests/test_examples_gpu.py) and after all of them (tests/conftest.py)


def log_name(example):
    """The name of an example's log (and of its `# keep:` folder) in COOKBOOK_LOG_DIR: the path with / as _."""
    return Path(example).as_posix().replace("/", "_")


def command_header(example_dir):
    """Parse the header comments of the example's command.sh once (see CommandHeader)."""
    requires, timeout, if_missing, keep, alone = [], DEFAULT_TIMEOUT, None, [], False
    for line in (Path(example_dir) / "command.sh").read_text(encoding="utf-8").splitlines():
        m = re.match(r"#\s*(requires|timeout|if missing|keep|alone):\s*(.*?)\s*$", line)
        if not m:
            continue
        key, value = m.groups()
        if key == "requires":
            requires += value.split()
        elif key == "timeout" and value.isdigit():
            timeout = int(value)
        elif key == "if missing" and value:
            if_missing = value
        elif key == "keep":
            keep += value.split()
        elif key == "alone":
            alone = value == "yes"
    return CommandHeader(requires, timeout, if_missing, keep, alone)


def tracked_files(root=ROOT):
    """Files git tracks (or would track: untracked, not ignored); a plain walk outside a git checkout."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                             check=True, capture_output=True).stdout.decode()
        return [root / p for p in out.split("\0") if p and (root / p).is_file()]
    except (OSError, subprocess.CalledProcessError):
        return [p for p in Path(root).rglob("*") if p.is_file() and ".git" not in p.parts]



# What an example writes when it runs (and .gitignore ignores): never part of its fingerprint.
GENERATED = ("*.output.npz", "*.output", "*.plan", "*.trt", "*.engine", "*.onnx", "*.cache", "*.exe", "*.o", "*.so",
             "*.log", "*.json.tmp", "__pycache__", "*.pyc")
# Documentation does not change what runs: an edited README, or a picture for it (a chart or a timeline of a GPU
# run, a screenshot), keeps the example's GPU verification.
NOT_FINGERPRINTED = GENERATED + ("*.md", "*.png")


def _fingerprint_files(folder):
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not any(fnmatch.fnmatch(d, g) for g in NOT_FINGERPRINTED))
        for name in sorted(filenames):
            if not any(fnmatch.fnmatch(name, g) for g in NOT_FINGERPRINTED):
                yield Path(dirpath) / name


def fingerprint(example, root=ROOT):
    """sha256 (first 16 hex digits) of an example's files (not its README) and of the include/ files it includes.

    A GPU pass is recorded with this value (tests/gpu_verified.txt); when any file of the example changes, its
    verification is stale until it passes on the GPU again.
    """
    folder = Path(root) / example
    files = list(_fingerprint_files(folder))
    shared = set()  # the files of include/ that its C++ sources and Makefile name (#include "x.h", ../../include/x.h)
    for path in files:
        if path.suffix in (".cpp", ".cu", ".h", ".cuh") or path.name == "Makefile":
            text = path.read_text(encoding="utf-8", errors="replace")
            shared.update(re.findall(r"\.\./include/([\w.-]+)", text) + re.findall(r'#include\s+"([\w.-]+)"', text))
    files += [Path(root) / "include" / name for name in sorted(shared) if (Path(root) / "include" / name).is_file()]
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()[:16]
