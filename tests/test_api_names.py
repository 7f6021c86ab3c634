"""CPU test: every `trt.X` and `trt.X.Y` an example uses exists in TensorRT 8.6.0's Python API.

No TensorRT is installed on the CPU machines, so a misspelt enum or class would only show on the GPU. The listing
tests/tensorrt-8.6.0-python-api.txt holds every class, member and enum value of the 8.6.0 bindings (made on the
GPU machine with `dir()` over the module, see ../shared/gpu).
"""
import ast
from pathlib import Path

import pytest

from examples import ROOT, find_examples

LISTING = Path(__file__).resolve().parent / "tensorrt-8.6.0-python-api.txt"
SCRIPTS = [p for e in find_examples() for p in sorted((ROOT / e).glob("*.py"))]


def known_names():
    names = set()
    for line in LISTING.read_text(encoding="utf-8").splitlines():
        if line.startswith("class "):
            names.add(line.split()[1])
        elif line.startswith("  ") and " members:" not in line:
            names.add(line.strip())
        elif line and not line.startswith(" "):  # module level: "<type> <name>", e.g. "DataType float32"
            names.add(line.split()[-1])
    return names


KNOWN = known_names()
CLASSES = {n for n in KNOWN if "." not in n}


def trt_chains(tree):
    """Every `trt.A` and `trt.A.B` in a module, as 'A' and 'A.B'."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "trt":
            found.add(node.attr)
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
                and isinstance(node.value.value, ast.Name) and node.value.value.id == "trt"):
            found.add(f"{node.value.attr}.{node.attr}")
    return found


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.relative_to(ROOT).as_posix() for s in SCRIPTS])
def test_tensorrt_names_exist_in_8_6_0(script):
    used = trt_chains(ast.parse(script.read_text(encoding="utf-8")))
    unknown = sorted(n for n in used if n not in KNOWN and not n.split(".")[-1].startswith("__")  # pybind11's own
                     and not ("." in n and n.split(".")[0] not in CLASSES))
    assert not unknown, f"{script.relative_to(ROOT)} uses names TensorRT 8.6.0 does not have: {unknown}"


# Variables that hold one kind of TensorRT object by this cookbook's naming habit: their members are checked too.
TYPED_NAMES = {
    "builder": ["Builder"], "network": ["INetworkDefinition"], "config": ["IBuilderConfig"],
    "engine": ["ICudaEngine"], "context": ["IExecutionContext", "IAlgorithmContext"], "profile": ["IOptimizationProfile"],
    "inspector": ["EngineInspector"], "parser": ["OnnxParser"], "refitter": ["Refitter"], "runtime": ["Runtime"],
    "loop": ["ILoop"], "layer": sorted(n for n in CLASSES if n.startswith("I") and n.endswith("Layer")),
}


DICT_METHODS = {"get", "items", "keys", "values"}  # `layer` may also be a dict parsed from the engine inspector's JSON


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.relative_to(ROOT).as_posix() for s in SCRIPTS])
def test_members_of_named_objects_exist_in_8_6_0(script):
    """`network.add_x`, `config.set_flag`, `engine.get_tensor_shape`, `layer.axes`...: the member exists."""
    unknown = set()
    for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in TYPED_NAMES
                and not node.attr.startswith("__") and node.attr not in DICT_METHODS):
            if not any(f"{cls}.{node.attr}" in KNOWN for cls in TYPED_NAMES[node.value.id]):
                unknown.add(f"{node.value.id}.{node.attr}")
    assert not unknown, f"{script.relative_to(ROOT)} uses members TensorRT 8.6.0 does not have: {sorted(unknown)}"
